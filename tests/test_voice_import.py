"""File import of customer voice (issue 14): upload → columns → dry run → apply, and again.

Through the test client, on the real stack, with sample exports in the presets' layouts
(tests/data/voice_import/) and an XLSX written here with openpyxl.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from app.extensions import db
from app.models import AuditEvent
from app.models import Role
from app.models import Scale
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceImport
from app.models import VoiceMapping
from app.models import VoiceSource
from app.voice.presets import FIELDS

DATA = Path(__file__).parent / "data" / "voice_import"
BASE = "/review/voice/import/"


# Helpers -------------------------------------------------------------------------------------
def upload(client, data: bytes, filename: str, *, source: str = "new", name: str = "Q4 NPS",
           start: str = "", channel: str = "survey"):
    form = {"file": (io.BytesIO(data), filename), "source": source, "new_source": name,
            "channel": channel, "start": start}
    return client.post(BASE, data=form, content_type="multipart/form-data")


def problems(response) -> list[str]:
    """The error summary of a page that did not go on (for assertion messages)."""
    return re.findall(r"error-summary.*?</ul>", response.get_data(as_text=True), re.S)


def token_of(response) -> str:
    assert response.status_code == 302, problems(response)
    match = re.search(r"/import/([A-Za-z0-9_-]+)/mapping$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def selected(html: str, name: str) -> str:
    """The value the mapping page preselects for the select `name` ("" when none)."""
    block = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert block, f"no select {name}"
    option = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected',
                       block.group(1))
    return next((g for g in option.groups() if g is not None), "") if option else ""


def mapping_form(html: str) -> dict[str, str]:
    """What submitting the mapping page unchanged sends."""
    data = {name: selected(html, name) for name in (*FIELDS, "fixed_scale", "dates")}
    data["header_rows"] = re.search(r'name="header_rows"[^>]*value="(\d+)"', html).group(1)
    return data


def count(html: str, kind: str) -> int:
    match = re.search(rf'data-count="{kind}">([\d,]+)<', html)
    assert match, f"no {kind} count"
    return int(match.group(1).replace(",", ""))


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    assert match, f"no hidden {name}"
    return match.group(1)


def preview(client, token: str, **filters):
    response = client.get(f"{BASE}{token}/preview", query_string={
        k: "y" for k, on in filters.items() if on})
    return response, response.get_data(as_text=True)


def apply(client, token: str, html: str, **extra):
    data = {name: hidden(html, name) for name in
            ("sha256", "fingerprint", "errors_seen", "only_promoters", "only_with_text")}
    return client.post(f"{BASE}{token}/apply", data={**data, **extra})


def map_and_preview(client, token: str, changes: dict | None = None, **filters):
    page = client.get(f"{BASE}{token}/mapping")
    assert page.status_code == 200, page.get_data(as_text=True)[:3000]
    data = {**mapping_form(page.get_data(as_text=True)), **(changes or {})}
    response = client.post(f"{BASE}{token}/mapping", data=data)
    assert response.status_code == 302, problems(response)
    return preview(client, token, **filters)


def verbatims() -> list[Verbatim]:
    db.session.commit()  # a fresh transaction: see what the requests committed
    return list(db.session.scalars(sa.select(Verbatim).order_by(Verbatim.id)))


@pytest.fixture
def people(make_team, make_user):
    lisbon = make_team("Store Lisbon")
    make_user(display_name="Ana Lima", team=lisbon)
    make_user(display_name="Bruno Costa")
    db.session.commit()
    return lisbon


# The whole flow ------------------------------------------------------------------------------
def test_qualtrics_export_through_the_web_then_again_adds_nothing(editor_client, people):
    data = (DATA / "qualtrics.csv").read_bytes()
    token = token_of(upload(editor_client, data, "Qualtrics Q4.csv", name="Qualtrics NPS Q4"))
    source = db.session.scalar(sa.select(VoiceSource).where(VoiceSource.name == "Qualtrics NPS Q4"))
    assert source.slug == "qualtrics-nps-q4" and source.origin.value == "import"

    page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
    assert "looks like a Qualtrics" in page
    # Three header rows; the NPS question is the one with a _NPS_GROUP sibling; the comment and
    # the store are found from the question text in the second header row.
    assert selected(page, "score") == "Q1" and selected(page, "fixed_scale") == "nps"
    assert selected(page, "response_id") == "ResponseId"
    assert selected(page, "date") == "RecordedDate"
    assert selected(page, "text") == "Q2" and selected(page, "team") == "Q3"
    assert selected(page, "language") == "UserLanguage"
    assert 'value="3"' in re.search(r'<input[^>]*name="header_rows"[^>]*>', page).group(0)
    assert "R_1a2B3c4D5e6F7g8" in page  # sample values, redacted like everything shown
    assert "joe@example.org" not in page and "[email]" in page

    response, html = map_and_preview(editor_client, token, {"save_as": "Qualtrics NPS"})
    assert response.status_code == 200, html[:2000]
    assert (count(html, "rows"), count(html, "new"), count(html, "duplicates"),
            count(html, "errors")) == (6, 3, 0, 2)  # a score without a comment: score only
    assert "Row 8" in html and "“ten” is not a whole number" in html
    assert "Row 9" in html and "no team called “Atlantis”" in html
    assert db.session.scalar(sa.select(VoiceMapping.name)) == "Qualtrics NPS"
    assert verbatims() == []  # the dry run wrote nothing

    # Errors: the apply refuses unless told to skip them.
    refused = apply(editor_client, token, html)
    assert refused.status_code == 302
    assert "tick “Skip the rows with errors”" in editor_client.get(
        refused.headers["Location"]).get_data(as_text=True)
    assert verbatims() == [] and db.session.scalar(sa.select(sa.func.count(VoiceImport.id))) == 0
    done = apply(editor_client, token, html, skip_errors="y")
    assert done.status_code == 302
    imported = db.session.scalar(sa.select(VoiceImport))
    assert f"import_id={imported.id}" in done.headers["Location"]
    stored = {v.response_id: v for v in verbatims()}
    assert len(stored) == 4
    first = stored["R_1a2B3c4D5e6F7g8"]
    assert first.text.startswith("Ana Lima at the Lisbon store") and "+44" not in first.text
    assert first.score == 10 and first.scale == Scale.NPS and first.band.value == "promoter"
    assert first.team_id == people.id and first.mentions_colleague and first.priority == 0
    assert first.received_on.isoformat() == "2026-11-02" and first.language == "EN"
    assert "[email]" in stored["R_3c4D5e6F7g8H9i0"].text
    assert stored["R_4d5E6f7G8h9I0j1"].text is None and stored["R_4d5E6f7G8h9I0j1"].score == 8
    assert (imported.rows, imported.created, imported.duplicates, imported.errors) == (6, 4, 0, 2)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "voice.import"))
    assert event.details["created"] == 4 and event.details["errors_skipped"] == 2
    assert editor_client.get(f"{BASE}{token}/preview").status_code == 302  # upload discarded

    # Again, into the same source, with the saved mapping: nothing new, nothing changed.
    mapping_id = db.session.scalar(sa.select(VoiceMapping.id))
    again = token_of(upload(editor_client, data, "Qualtrics Q4.csv", source=str(source.id),
                            start=f"mapping:{mapping_id}"))
    page = editor_client.get(f"{BASE}{again}/mapping").get_data(as_text=True)
    assert selected(page, "score") == "Q1" and selected(page, "text") == "Q2"
    _response, html = map_and_preview(editor_client, again)
    assert (count(html, "new"), count(html, "duplicates"), count(html, "errors")) == (0, 4, 2)
    assert "Nothing new to import" in html and "Import 0" not in html
    forced = editor_client.post(f"{BASE}{again}/apply", data={
        "sha256": hashlib.sha256(data).hexdigest(), "fingerprint": "0" * 64, "skip_errors": "y"})
    assert forced.status_code == 302 and "/preview" in forced.headers["Location"]
    assert len(verbatims()) == 4
    assert db.session.scalar(sa.select(sa.func.count(VoiceImport.id))) == 1


def test_surveymonkey_export_with_filters_keeps_scores_only(editor_client, people):
    token = token_of(upload(editor_client, (DATA / "surveymonkey.csv").read_bytes(), "sm.csv",
                            start="preset:surveymonkey"))
    page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
    assert selected(page, "response_id") == "Respondent ID"
    assert selected(page, "score").startswith("How likely is it")
    assert selected(page, "text") == "What is the main reason for your score?"
    assert selected(page, "dates") == "mdy"
    assert "Which store did you visit? — Other (please specify)" in page
    response, html = map_and_preview(
        editor_client, token,
        {"consent": "May we quote your comment in our staff newsletter?"}, only_promoters=True)
    # 5 rows: 13/04/2026 is not a month-first date, 11 is not an NPS score.
    assert (count(html, "rows"), count(html, "new"), count(html, "filtered"),
            count(html, "errors")) == (5, 1, 2, 2)
    assert "still stored for their score only" in html
    assert apply(editor_client, token, html, skip_errors="y").status_code == 302
    rows = {v.response_id: v for v in verbatims()}
    assert set(rows) == {"114259137853", "114259137854", "114259137855"}
    detractor = rows["114259137854"]
    assert detractor.status == VerbatimStatus.FILTERED and detractor.text is None
    assert detractor.score == 6 and not detractor.consent
    assert rows["114259137853"].consent and rows["114259137853"].status == VerbatimStatus.NEW


def test_an_xlsx_written_with_openpyxl_imports_with_date_cells(editor_client, people, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Response ID", "Score", "Comment", "Date", "Team"])
    sheet.append(["x-1", 10, "Ana Lima was wonderful", datetime(2026, 11, 2, 9, 30),
                  "store lisbon"])
    sheet.append(["x-2", 9.0, "Great", 46330, None])  # an Excel serial day: 2026-11-04
    sheet.append(["x-3", 11, "Too high", "2026-11-05", None])
    sheet.append([None, None, None, None, None])  # a blank row is not a response
    path = tmp_path / "export.xlsx"
    book.save(path)
    token = token_of(upload(editor_client, path.read_bytes(), "export.xlsx"))
    response, html = map_and_preview(editor_client, token, {"fixed_scale": "nps"})
    assert (count(html, "rows"), count(html, "new"), count(html, "errors")) == (3, 2, 1)
    assert "got 11" in html
    apply(editor_client, token, html, skip_errors="y")
    rows = {v.response_id: v for v in verbatims()}
    assert rows["x-1"].received_on.isoformat() == "2026-11-02" and rows["x-1"].team_id
    assert rows["x-2"].received_on.isoformat() == "2026-11-04" and rows["x-2"].score == 9


def test_duplicates_within_the_file_and_a_file_without_response_ids(editor_client, people):
    lines = ["Comment,Score", "Lovely,10", "Lovely,10", "Slow,3", ""]
    data = "\r\n".join(lines).encode()
    token = token_of(upload(editor_client, data, "plain.csv", name="Shop survey"))
    _r, html = map_and_preview(editor_client, token, {"fixed_scale": "nps"})
    # Without a response id, a row's mapped cells are its id: the repeated row counts once.
    assert (count(html, "rows"), count(html, "new"), count(html, "duplicates")) == (3, 2, 1)
    apply(editor_client, token, html)
    assert len(verbatims()) == 2
    source_id = db.session.scalar(
        sa.select(VoiceSource.id).where(VoiceSource.name == "Shop survey"))
    again = token_of(upload(editor_client, data, "plain.csv", source=str(source_id)))
    _r, html = map_and_preview(editor_client, again, {"fixed_scale": "nps"})
    assert (count(html, "new"), count(html, "duplicates")) == (0, 3)


def test_the_errors_csv_lists_every_error_safely(editor_client, people):
    lines = ["Response ID,Score,Comment"] + [f"r{i},{i},=cmd|' /C calc'!A0" for i in range(150)]
    token = token_of(upload(editor_client, "\n".join(lines).encode(), "many.csv"))
    _r, html = map_and_preview(editor_client, token, {"fixed_scale": "nps"})
    assert count(html, "errors") == 150 and "The first 100 of 150" in html
    assert html.count("<th scope=\"row\" class=\"nowrap\">Row") == 100
    exported = editor_client.get(f"{BASE}{token}/errors.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["row", "error"] and len(rows) == 151
    assert rows[1][0] == "2" and "spreadsheet formula" in rows[1][1]
    assert 'filename="many-errors.csv"' in exported.headers["Content-Disposition"]


def test_the_apply_refuses_a_changed_plan_and_a_changed_file(editor_client, people):
    lines = ["Response ID,Score,Comment", "a,10,One", "b,9,Two"]
    token = token_of(upload(editor_client, "\n".join(lines).encode(), "two.csv"))
    _r, html = map_and_preview(editor_client, token, {"fixed_scale": "nps"})
    # Someone imports "a" into the same source meanwhile: the preview no longer holds.
    source = db.session.scalar(sa.select(VoiceSource).where(VoiceSource.name == "Q4 NPS"))
    db.session.add(Verbatim(source_id=source.id, origin="webhook", response_id="a",
                            channel="survey", received_on=datetime(2026, 11, 1).date()))
    db.session.commit()
    response = apply(editor_client, token, html)
    assert response.status_code == 302 and "/preview" in response.headers["Location"]
    assert len(verbatims()) == 1
    assert "would now do something else" in editor_client.get(
        response.headers["Location"]).get_data(as_text=True)
    changed = editor_client.post(f"{BASE}{token}/apply", data={
        "sha256": "0" * 64, "fingerprint": hidden(html, "fingerprint")})
    assert changed.status_code == 302 and len(verbatims()) == 1


# Odd files: a clear message, never a 500 -----------------------------------------------------
def _message(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "empty.csv", "The file is empty"),
        (b"Comment,Score\r\n", "headers.csv", "no responses below"),
        (b"PK\x03\x04not really a zip at all", "fake.xlsx", "not a readable Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls", "old Excel file"),
        (bytes(range(256)) * 40, "junk.csv", "binary"),
    ],
    ids=["empty", "only-headers", "not-a-zip", "xls", "binary-junk"],
)
def test_unreadable_uploads_are_refused_with_a_message(editor_client, data, filename, message):
    response = upload(editor_client, data, filename)
    assert response.status_code == 200
    assert message in _message(response)
    assert db.session.scalar(sa.select(sa.func.count(VoiceSource.id))) == 1  # only "email"


@pytest.mark.app_config(VOICE_IMPORT_MAX_BYTES=1000)
def test_an_oversize_file_is_refused_with_a_message(editor_client):
    response = upload(editor_client, b"Comment\n" + b"x" * 5000, "big.csv")
    assert response.status_code == 200 and "larger than 0.001 MB" in _message(response)


def test_duplicate_names_long_cells_and_odd_scores(editor_client, people):
    long = "Fabulous " * 1111  # 9,999 characters: kept whole
    rows = [["Response ID", "Comment", "Comment", "Score", "Text"],
            ["a", "x", "y", "10", long.strip()],
            ["b", "x", "y", " 9 ", "z" * 10_001],
            ["c", "x", "y", "10.0", "ok"],
            ["d", "x", "y", "-1", "ok"],
            ["e", "x", "y", str(10**30), "ok"],
            ["f", "x", "y", "ten", "ok"],
            ["g", "x", "y", "ana@example.com", "ok"],
            ["h", "x", "y", "Great, call me back on +44 20 7946 0958 any time", "ok"]]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    token = token_of(upload(editor_client, out.getvalue().encode(), "odd.csv"))
    page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
    assert "“Comment” (columns B, C)" in page
    refused = editor_client.post(f"{BASE}{token}/mapping", data={
        **mapping_form(page), "text": "Comment", "fixed_scale": "nps"})
    assert refused.status_code == 200  # "Comment" is not a choice: the form says so
    _r, html = map_and_preview(editor_client, token, {"text": "Text", "fixed_scale": "nps"})
    assert (count(html, "new"), count(html, "errors")) == (2, 6)
    assert "10,001 characters long" in html and "got -1" in html
    assert "The score “[email]” is not" in html and "ana@" not in html
    assert "The score (a 48-character text) is not" in html and "7946" not in html
    assert "got 1000000000000000000000000000000" in html and "“ten” is not" in html
    apply(editor_client, token, html, skip_errors="y")
    assert {v.response_id: len(v.text) for v in verbatims()} == {"a": 9_998, "c": 2}


def test_a_mapping_needs_a_comment_or_a_score_and_a_scale(editor_client):
    token = token_of(upload(editor_client, b"A,B\n1,2\n", "ab.csv"))
    page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
    response = editor_client.post(f"{BASE}{token}/mapping", data=mapping_form(page))
    assert "Choose the column with the comment" in _message(response)
    response = editor_client.post(f"{BASE}{token}/mapping", data={
        **mapping_form(page), "score": "B"})
    assert "Say which scale" in _message(response)
    response = editor_client.post(f"{BASE}{token}/mapping", data={
        **mapping_form(page), "text": "A", "save_as": "x" * 81})
    assert response.status_code == 200 and db.session.scalar(
        sa.select(sa.func.count(VoiceMapping.id))) == 0


def test_saving_a_mapping_again_updates_it(editor_client):
    for score in ("B", "A"):
        token = token_of(upload(editor_client, b"A,B\n1,2\n", "ab.csv",
                                source="new", name=f"Source {score}"))
        page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
        editor_client.post(f"{BASE}{token}/mapping", data={
            **mapping_form(page), "score": score, "fixed_scale": "csat", "save_as": "Shop"})
    saved = db.session.scalars(sa.select(VoiceMapping)).all()
    assert len(saved) == 1 and saved[0].columns["score"] == "A" and saved[0].scale == Scale.CSAT


def test_changing_the_header_rows_reads_the_columns_again(editor_client):
    token = token_of(upload(editor_client, b"Survey export\nScore,Comment\n9,Nice\n", "t.csv"))
    page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
    response = editor_client.post(f"{BASE}{token}/mapping", data={
        **mapping_form(page), "header_rows": "2"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/mapping")
    page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
    assert "read again under 2 header rows" in page
    assert selected(page, "score") == "Score" and selected(page, "text") == "Comment"


def test_an_unknown_or_expired_token_goes_back_to_the_upload(editor_client):
    for url in ("abcdefghijklmnopqrstuvwxyz/mapping", "short/preview", "x/errors.csv"):
        response = editor_client.get(BASE + url)
        assert response.status_code == 302 and response.headers["Location"].endswith(BASE)


def test_employees_cannot_import(app, make_user, login_as):
    client = login_as(make_user(Role.EMPLOYEE))
    db.session.commit()
    assert client.get(BASE).status_code == 403
    response = upload(client, b"Comment\nHi\n", "x.csv")
    assert response.status_code == 403


def test_the_upload_page_lists_sources_presets_and_recent_imports(admin_client, editor):
    page = admin_client.get(BASE).get_data(as_text=True)
    assert "Qualtrics" in page and "SurveyMonkey" in page and "No file has been imported" in page


def test_the_new_source_needs_a_fresh_name_and_odd_form_values_are_refused(editor_client):
    data = b"Comment\nHi\n"
    for name, message in (("", "Name the new source"), ("Email", "exists already"),
                          ("x" * 121, "longer than 120")):
        db.session.add(VoiceSource(slug="mail", name="Email", origin="import", channel="email"))
        response = upload(editor_client, data, "x.csv", name=name)
        db.session.rollback()
        assert response.status_code == 200 and message in _message(response), name
    for source in (str(2**63), "-1", "abc", ""):
        response = upload(editor_client, data, "x.csv", source=source)
        assert response.status_code == 200 and "There’s a problem" in _message(response)
    response = upload(editor_client, data, "x.csv", start="mapping:" + str(2**63))
    assert response.status_code == 200 and "Not a valid choice" in _message(response)
    assert db.session.scalar(sa.select(sa.func.count(VoiceSource.id))) == 1  # only "email"


def test_huge_and_odd_mapping_values_show_errors(editor_client):
    token = token_of(upload(editor_client, b"Comment,Score\nHi,9\n", "x.csv"))
    page = editor_client.get(f"{BASE}{token}/mapping").get_data(as_text=True)
    for field, value in (("header_rows", str(10**30)), ("header_rows", "-1"),
                         ("header_rows", "abc"), ("text", "Nope"), ("fixed_scale", "xyz"),
                         ("dates", "\x00")):
        response = editor_client.post(f"{BASE}{token}/mapping",
                                      data={**mapping_form(page), field: value})
        assert response.status_code == 200 and "There’s a problem" in _message(response), field
    odd = editor_client.get(f"{BASE}{token}/preview",
                            query_string={"only_promoters": str(2**63), "junk": "\x00"})
    assert odd.status_code in (200, 302)


def test_an_upload_lives_a_day(app, editor_client):
    token = token_of(upload(editor_client, b"Comment\nHi\n", "x.csv"))
    folder = Path(app.config["UPLOAD_DIR"]) / "voice_imports"
    meta = folder / f"{token}.json"
    stored = json.loads(meta.read_text())
    meta.write_text(json.dumps({**stored, "uploaded_at": stored["uploaded_at"] - 86_401}))
    response = editor_client.get(f"{BASE}{token}/mapping", follow_redirects=True)
    assert "more than a day old" in _message(response)
    assert not (folder / f"{token}.data").exists()


def test_recent_imports_link_to_the_inbox_filtered_by_them(editor_client, people):
    token = token_of(upload(editor_client, (DATA / "delighted.csv").read_bytes(), "d.csv"))
    _r, html = map_and_preview(editor_client, token)
    assert (count(html, "new"), count(html, "errors")) == (2, 0)
    done = apply(editor_client, token, html)
    imported = db.session.scalar(sa.select(VoiceImport))
    assert done.headers["Location"].endswith(f"/review/voice/?import_id={imported.id}")
    page = editor_client.get(BASE).get_data(as_text=True)
    assert f'href="/review/voice/?import_id={imported.id}">d.csv</a>' in page
