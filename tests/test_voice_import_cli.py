"""`flask voice import FILE`: the same services as the import pages, through Flask's CLI runner.

The command is app.voice.import_cli.import_command (registered on the `voice` group by
app/voice/cli.py); invoking it directly runs it exactly as `flask voice import` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Origin
from app.models import QuoteSource
from app.models import Scale
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceImport
from app.models import VoiceMapping
from app.models import VoiceSource
from app.voice.import_cli import import_command

DATA = Path(__file__).parent / "data" / "voice_import"


@pytest.fixture
def source(db, make_team):
    make_team("Store Lisbon")
    row = VoiceSource(slug="nps-q4", name="NPS Q4", origin=Origin.IMPORT,
                      channel=QuoteSource.SURVEY)
    db.session.add(row)
    db.session.commit()
    return row


def run(app, *args: str):
    return app.test_cli_runner().invoke(import_command, list(args))


def stored() -> dict[str, Verbatim]:
    db.session.commit()
    return {v.response_id: v for v in db.session.scalars(sa.select(Verbatim))}


def test_dry_run_then_import_then_again(app, source):
    path = str(DATA / "qualtrics.csv")
    dry = run(app, path, "--source", "nps-q4", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "looks like a Qualtrics" in dry.output
    assert ("6 rows: 3 new, 0 already imported, 2 with errors; 1 kept for their score only"
            in dry.output)
    assert "row 8: The score “ten” is not a whole number." in dry.output
    assert "Dry run: nothing was changed." in dry.output and stored() == {}

    refused = run(app, path, "--source", "nps-q4")
    assert refused.exit_code == 1
    assert "2 rows have errors, so nothing was imported" in refused.output
    assert stored() == {} and db.session.scalar(sa.select(sa.func.count(VoiceImport.id))) == 0

    done = run(app, path, "--source", "nps-q4", "--preset", "qualtrics", "--skip-errors")
    assert done.exit_code == 0, done.output
    assert "Imported (import #" in done.output and len(stored()) == 4
    record = db.session.scalar(sa.select(VoiceImport))
    assert (record.rows, record.created, record.errors, record.actor_id) == (6, 4, 2, None)

    again = run(app, path, "--source", "nps-q4", "--skip-errors")
    assert again.exit_code == 0 and "Nothing new to import." in again.output
    assert "4 already imported" in again.output
    assert len(stored()) == 4 and db.session.scalar(sa.select(sa.func.count(VoiceImport.id))) == 1


def test_a_saved_mapping_and_the_filters(app, source):
    db.session.add(VoiceMapping(name="Monkey", scale=Scale.NPS, columns={
        "response_id": "Respondent ID",
        "score": "How likely is it that you would recommend Acme to a friend or colleague?",
        "text": "What is the main reason for your score?", "date": "End Date",
        "header_rows": 2, "dates": "mdy", "preset": "surveymonkey"}))
    db.session.commit()
    result = run(app, str(DATA / "surveymonkey.csv"), "--source", "nps-q4", "--mapping", "monkey",
                 "--only-promoters", "--only-with-text", "--skip-errors")
    assert result.exit_code == 0, result.output
    rows = stored()
    assert rows["114259137853"].status == VerbatimStatus.NEW
    # The detractor and the promoter without a comment: kept for their scores only.
    assert rows["114259137854"].status == VerbatimStatus.FILTERED
    assert rows["114259137855"].status == VerbatimStatus.FILTERED
    assert rows["114259137854"].text is None and rows["114259137854"].score == 6


def test_the_scale_option_and_a_plain_file(app, source, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("Response ID;Score;Comment\nc1;5;Très bien\nc2;2;Bof\n", encoding="cp1252")
    result = run(app, str(path), "--source", "nps-q4", "--scale", "csat")
    assert result.exit_code == 0, result.output
    rows = stored()
    assert rows["c1"].scale == Scale.CSAT and rows["c1"].band.value == "promoter"
    assert rows["c1"].text == "Très bien" and rows["c2"].band.value == "detractor"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "nope"], "no such customer-voice source"),
        (["--source", "email"], "Choose the source"),
        (["--source", "nps-q4", "--mapping", "Missing"], "no saved mapping called"),
        (["--source", "nps-q4", "--mapping", "x", "--preset", "typeform"], "not both"),
    ],
)
def test_refusals(app, source, args, message):
    result = run(app, str(DATA / "delighted.csv"), *args)
    assert result.exit_code != 0 and message in result.output
    assert stored() == {}


def test_an_unreadable_file(app, source, tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"PK\x03\x04 not a zip")
    result = run(app, str(path), "--source", "nps-q4")
    assert result.exit_code == 1 and "not a readable Excel workbook" in result.output


def test_the_command_is_flask_voice_import(app, source):
    result = app.test_cli_runner().invoke(args=["voice", "import", str(DATA / "typeform.csv"),
                                                "--source", "nps-q4", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "looks like a Typeform" in result.output and "2 rows: 2 new" in result.output


def test_many_errors_are_summed_up(app, source, tmp_path):
    path = tmp_path / "bad.csv"
    rows = "".join(f"r{i},{11 + i},x\n" for i in range(60))
    path.write_text(f"Response ID,Score,Comment\n{rows}")
    result = run(app, str(path), "--source", "nps-q4", "--scale", "nps", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "row 2: A NPS score is a whole number from 0 to 10; got 11." in result.output
    assert "row 51:" in result.output and "row 52:" not in result.output
    assert "(the first 50 of 60 rows with errors)" in result.output
