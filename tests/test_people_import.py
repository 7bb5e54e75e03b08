"""Bulk import of people (issue 13): the CSV upload, its dry run, the apply, and `flask people`."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app.extensions import db
from app.imports.plan import Options
from app.imports.plan import build_plan
from app.models import AuditEvent
from app.models import Role
from app.models import Team
from app.models import User

UPLOAD = "/admin/people/import/"
HEADER = "name,email,team,manager email"


def csv_bytes(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def upload(client, data: bytes, *, filename: str = "people.csv", follow: bool = False, **options):
    form = {"file": (io.BytesIO(data), filename)}
    form.update({name: "y" for name, on in options.items() if on})
    return client.post(UPLOAD, data=form, content_type="multipart/form-data",
                       follow_redirects=follow)


def token_of(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    assert match, f"no hidden {name}"
    return match.group(1)


def count(html: str, kind: str) -> int:
    match = re.search(rf'data-count="{kind}">([\d,]+)<', html)
    assert match, f"no {kind} count"
    return int(match.group(1).replace(",", ""))


def preview(client, token: str):
    response = client.get(f"{UPLOAD}{token}")
    return response, response.get_data(as_text=True)


def apply(client, token: str, html: str, **extra):
    data = {"sha256": hidden(html, "sha256"), "digest": hidden(html, "digest"), **extra}
    return client.post(f"{UPLOAD}{token}/apply", data=data)


def people() -> dict[str, User]:
    """Everyone, as committed now (a fresh transaction: another thread may have written)."""
    db.session.commit()
    return {u.email: u for u in db.session.scalars(sa.select(User))}


def plan_of(tmp_path: Path, lines: list[str], options: Options | None = None, **kwargs):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(lines))
    return build_plan(path, options or Options(), **kwargs)


def reasons(plan) -> dict[int, str]:
    return {e.line: e.reason for e in plan.errors}


# The "done when": 5,000 rows through the web dry run and apply ----------------------------
def test_five_thousand_rows_through_the_dry_run_and_the_apply(admin_client, admin, make_team):
    sales, support = make_team("Sales"), make_team("Support")
    for i in range(100):  # already here: 50 unchanged, 50 with a new name
        db.session.add(User(email=f"p{i}@example.com", display_name=f"Person {i}", team=sales))
    db.session.commit()
    lines = [HEADER]
    for i in range(5000):
        name = f"Person {i}" if i < 50 or i >= 100 else f"Renamed {i}"
        team = "Sales" if i < 100 else ("support" if i % 3 else "Field Service")
        manager = "" if i < 100 else f"p{i // 100}@example.com"  # managers in the file
        lines.append(f"{name},P{i}@Example.com ,{team},{manager}")
    token = token_of(upload(admin_client, csv_bytes(lines), create_teams=True))

    response, html = preview(admin_client, token)
    assert response.status_code == 200
    assert (count(html, "new"), count(html, "updated"), count(html, "unchanged"),
            count(html, "errors")) == (4900, 50, 50, 0)
    assert "Person 50 → Renamed 50" in html and "Field Service" in html
    assert len(people()) == 101  # a dry run writes nothing

    response = apply(admin_client, token, html)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users")
    everyone = people()
    assert len(everyone) == 5001
    assert everyone["p50@example.com"].display_name == "Renamed 50"
    assert everyone["p4999@example.com"].team_id == support.id
    assert everyone["p4999@example.com"].manager.email == "p49@example.com"
    assert everyone["p4998@example.com"].team.name == "Field Service"
    assert everyone["p4998@example.com"].password_hash is None  # SSO or an invitation
    assert everyone[admin.email].is_active_user
    event_ = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "people.import"))
    assert event_.details["created"] == 4900 and event_.details["updated"] == 50
    # The upload is gone once applied.
    assert admin_client.get(f"{UPLOAD}{token}").status_code == 302
    assert not list((Path(admin_client.application.config["UPLOAD_DIR"]) / "imports").glob("*"))

    # The same file again: everything is unchanged.
    token = token_of(upload(admin_client, csv_bytes(lines), create_teams=True))
    _, html = preview(admin_client, token)
    assert (count(html, "new"), count(html, "updated"), count(html, "unchanged")) == (0, 0, 5000)
    assert "Nothing to change" in html


# Row errors ---------------------------------------------------------------------------------------
def test_every_kind_of_row_error(tmp_path, app, make_team, make_user):
    make_team("Sales")
    make_user(email="known@example.com")
    plan = plan_of(tmp_path, [
        "name,email,team,manager,role",
        "Ann,ann@example.com,Sales,,",                      # 2 fine
        "Bad,not-an-email,Sales,,",                         # 3
        ",noname@example.com,Sales,,",                      # 4
        "Ann Again,ANN@example.com,Sales,,",                # 5 duplicate
        "Rolf,rolf@example.com,Sales,,boss",                # 6
        "Tia,tia@example.com,Nowhere,,",                    # 7 unknown team
        f"{'x' * 121},long@example.com,Sales,,",            # 8
        f"Tom,tom@example.com,{'t' * 81},,",                # 9
        "Max,max@example.com,Sales,not an email,",          # 10
        "Ned,ned@example.com,Sales,ghost@example.com,",     # 11
        "Sam,sam@example.com,Sales,sam@example.com,",       # 12
        "Kim,kim@example.com,Sales,tia@example.com,",       # 13 manager's row failed
        "Lea,lea@example.com,Sales,known@example.com,",     # 14 fine: an account
        "Bo,bo@example.com,Sales,cy@example.com,",          # 15 loop
        "Cy,cy@example.com,Sales,bo@example.com,",          # 16 loop
    ])
    found = reasons(plan)
    assert "not a valid email" in found[3]
    assert found[4] == "The name is missing."
    assert found[5] == "ann@example.com is already on row 2."
    assert "Unknown role 'boss'" in found[6]
    assert "There is no team called 'Nowhere'" in found[7]
    assert "name is longer than 120" in found[8]
    assert "team name is longer than 80" in found[9]
    assert "manager email 'not an email' is not a valid" in found[10]
    assert found[11] == "No one with the email ghost@example.com is in the file or has an account."
    assert found[12] == "A person cannot be their own manager."
    assert found[13] == "The manager’s row (row 7) has an error."
    assert "loop" in found[15] and "bo@example.com → cy@example.com → bo@example.com" in found[15]
    assert "loop" in found[16]
    assert set(found) == {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16}
    assert [c.email for c in plan.created] == ["ann@example.com", "lea@example.com"]


def test_a_loop_through_people_outside_the_file_is_refused(tmp_path, app, make_user):
    boss = make_user(email="boss@example.com")
    make_user(email="deputy@example.com", manager=boss)
    db.session.commit()
    plan = plan_of(tmp_path, [HEADER, "Boss,boss@example.com,,deputy@example.com"])
    assert "loop" in reasons(plan)[2]
    # Two people outside the file in the chain; and a chain out of the file that ends is fine.
    x = make_user(email="x@example.com", manager=None)
    make_user(email="y@example.com", manager=x)
    x.manager = make_user(email="ann@example.com")
    db.session.commit()
    plan = plan_of(tmp_path, [HEADER, "Ann,ann@example.com,,y@example.com",
                              "Cid,cid@example.com,,y@example.com"])
    assert reasons(plan) == {2: "The managers form a loop: ann@example.com → y@example.com → "
                                "x@example.com → ann@example.com."}


def test_errors_block_the_apply_and_download_as_csv(admin_client, admin):
    lines = [HEADER, "Ok,ok@example.com,,", "Bad,=bad,,", "No Team,nt@example.com,Ghosts,"]
    token = token_of(upload(admin_client, csv_bytes(lines)))
    _, html = preview(admin_client, token)
    assert count(html, "errors") == 2 and "Apply the import" not in html
    assert "Upload a corrected file" in html
    download = admin_client.get(f"{UPLOAD}{token}/errors.csv")
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data().decode("utf-8-sig"))))
    assert rows == [
        ["row", "email", "error"],
        ["3", "'=bad", "'=bad' is not a valid email address."],  # no formula in a spreadsheet
        ["4", "nt@example.com",
         "There is no team called 'Ghosts' (tick “create missing teams” to create it)."],
    ]
    # An apply forged past the preview is refused too: nothing is written.
    from app.imports import services

    stored = services.get_upload(token)
    digest = services.plan_upload(stored, actor=admin).digest()
    response = admin_client.post(f"{UPLOAD}{token}/apply",
                                 data={"sha256": stored.sha256, "digest": digest},
                                 follow_redirects=True)
    assert "2 rows have errors, so nothing was imported" in response.get_data(as_text=True)
    assert "ok@example.com" not in people()


def test_the_plan_keeps_a_sample_but_counts_checks_and_exports_every_row(
    tmp_path, admin_client, admin
):
    """The plan lives in a staging table: Python keeps the first rows of each kind for the
    preview, while the counts, the digest and the errors CSV cover every row."""
    lines = [HEADER] + [f"Bad {i},bad{i}-at-example.com,," for i in range(250)]
    lines += [f"New {i},new{i}@example.com,," for i in range(150)]
    plan = plan_of(tmp_path, lines)
    assert (len(plan.errors), len(plan.created)) == (250, 150)
    assert len(list(plan.errors)) == 100 and [c.line for c in plan.created][:1] == [252]
    # A change on the last row, far past the sample, changes the digest.
    changed = plan_of(tmp_path, [*lines[:-1], "Renamed 149,new149@example.com,,"])
    assert len(changed.created) == 150 and changed.digest() != plan.digest()
    db.session.rollback()

    token = token_of(upload(admin_client, csv_bytes(lines)))
    _, html = preview(admin_client, token)
    assert count(html, "errors") == 250 and count(html, "new") == 150
    assert "the first 100 of 250 are shown" in html
    rows = list(csv.reader(io.StringIO(
        admin_client.get(f"{UPLOAD}{token}/errors.csv").get_data().decode("utf-8-sig"))))
    assert len(rows) == 251 and rows[-1][0] == "251"


# Roles --------------------------------------------------------------------------------------------
def test_roles_change_only_when_the_column_is_present(tmp_path, app, make_user):
    make_user(Role.EDITOR, email="ed@example.com", display_name="Ed")
    make_user(Role.ADMIN, email="ad@example.com", display_name="Ad")
    db.session.commit()
    plan = plan_of(tmp_path, ["name,email", "Ed,ed@example.com", "New,new@example.com"])
    assert plan.unchanged == 1 and plan.created[0].role == Role.EMPLOYEE

    plan = plan_of(tmp_path, ["name,email,role", "Ed,ed@example.com,Employee",
                              "New,new@example.com,editor", "Ad,ad@example.com,"])
    assert plan.updated[0].changes == {"role": ("Editor", "Employee")}
    assert plan.created[0].role == Role.EDITOR
    assert plan.unchanged == 1  # a blank role cell keeps the role


def test_an_import_never_demotes_the_last_admin(tmp_path, app, make_user):
    make_user(Role.ADMIN, email="only@example.com", display_name="Only")
    db.session.commit()
    plan = plan_of(tmp_path, ["name,email,role", "Only,only@example.com,employee"])
    assert reasons(plan) == {2: "This would leave no active administrator."}
    # Promoting someone else in the same file makes it fine.
    plan = plan_of(tmp_path, ["name,email,role", "Only,only@example.com,employee",
                              "Next,next@example.com,admin"])
    assert plan.ok


def test_deactivate_missing_never_removes_the_last_admin(tmp_path, app, make_user):
    make_user(Role.ADMIN, email="only@example.com")
    gone = make_user(email="gone@example.com")
    db.session.commit()
    plan = plan_of(tmp_path, ["name,email", "Ann,ann@example.com"],
                   Options(deactivate_missing=True))  # the command line: nobody importing
    assert [p.id for p in plan.deactivate] == [gone.id]
    assert "Administrators not in the file stay active" in plan.notes[0]


def test_an_admin_cannot_change_their_own_role(admin_client, admin, make_user):
    make_user(Role.ADMIN)
    db.session.commit()
    lines = ["name,email,role", f"{admin.display_name},{admin.email},editor"]
    token = token_of(upload(admin_client, csv_bytes(lines)))
    _, html = preview(admin_client, token)
    assert "You cannot change your own role with an import." in html


# Deactivating people who are not in the file ------------------------------------------------------
def test_deactivate_missing_is_previewed_confirmed_and_spares_the_importer(
    admin_client, admin, make_user
):
    stay = make_user(email="stay@example.com", display_name="Stay")
    leave = make_user(email="leave@example.com", display_name="Leaver Lou")
    db.session.commit()
    token = token_of(upload(admin_client, csv_bytes(["name,email", "Stay,stay@example.com"]),
                            deactivate_missing=True))
    _, html = preview(admin_client, token)
    assert count(html, "deactivate") == 1 and "Leaver Lou (leave@example.com)" in html
    assert admin.email not in html.split("Not in the file")[1]

    response = apply(admin_client, token, html)  # not confirmed
    assert response.status_code == 302 and token in response.headers["Location"]
    assert people()["leave@example.com"].is_active_user

    stamp = leave.security_stamp
    response = apply(admin_client, token, html, confirm_deactivate="y")
    assert response.status_code == 302
    everyone = people()
    assert not everyone["leave@example.com"].is_active_user
    assert everyone["leave@example.com"].security_stamp != stamp  # signed out everywhere
    assert everyone["stay@example.com"].is_active_user and everyone[admin.email].is_active_user
    assert stay.id
    audit_page = admin_client.get("/admin/audit")  # the import's one audit event reads well
    assert audit_page.status_code == 200 and "people.import" in audit_page.get_data(as_text=True)


# Managers -----------------------------------------------------------------------------------------
def test_managers_resolve_within_the_file_and_to_accounts(tmp_path, app, make_user, admin):
    boss = make_user(email="boss@example.com")
    db.session.commit()
    plan = plan_of(tmp_path, [
        HEADER,
        "Ann,ann@example.com,,bea@example.com",  # her manager comes later in the file
        "Bea,bea@example.com,,boss@example.com",
    ])
    assert plan.ok
    from app.imports.services import apply_plan

    apply_plan(plan, Options(), actor=admin)
    db.session.commit()
    everyone = people()
    assert everyone["ann@example.com"].manager_id == everyone["bea@example.com"].id
    assert everyone["bea@example.com"].manager_id == boss.id
    # An existing person's manager can be someone new, managed by someone newer still.
    plan = plan_of(tmp_path, [
        HEADER,
        "Boss,boss@example.com,,dee@example.com",
        "Cat,cat@example.com,,",
        "Dee,dee@example.com,,cat@example.com",
    ])
    apply_plan(plan, Options(), actor=admin)
    db.session.commit()
    everyone = people()
    assert everyone["boss@example.com"].manager.email == "dee@example.com"
    assert everyone["dee@example.com"].manager.email == "cat@example.com"
    # Without the manager column nobody's manager changes; a blank cell removes it.
    assert plan_of(tmp_path, ["name,email", "Ann,ann@example.com"]).unchanged == 1
    plan = plan_of(tmp_path, [HEADER, "Ann,ann@example.com,,"])
    assert plan.updated[0].changes == {"manager": ("bea@example.com", "")}


# The stored upload --------------------------------------------------------------------------------
def test_the_apply_refuses_a_changed_file_an_expired_upload_and_a_changed_plan(
    admin_client, admin, make_user
):
    lines = ["name,email", "Ann,ann@example.com"]
    folder = Path(admin_client.application.config["UPLOAD_DIR"]) / "imports"

    token = token_of(upload(admin_client, csv_bytes(lines)))
    _, html = preview(admin_client, token)
    (folder / f"{token}.csv").write_bytes(csv_bytes([*lines, "Eve,eve@example.com"]))
    response = apply(admin_client, token, html)
    assert response.status_code == 302
    assert "ann@example.com" not in people() and "eve@example.com" not in people()

    token = token_of(upload(admin_client, csv_bytes(lines)))
    _, html = preview(admin_client, token)
    make_user(email="ann@example.com", display_name="Ann Before")  # changed under the preview
    db.session.commit()
    response = admin_client.post(f"{UPLOAD}{token}/apply", data={
        "sha256": hidden(html, "sha256"), "digest": hidden(html, "digest")},
        follow_redirects=True)
    assert "People or teams changed since this preview" in response.get_data(as_text=True)
    assert people()["ann@example.com"].display_name == "Ann Before"

    meta = folder / f"{token}.json"
    data = json.loads(meta.read_text())
    data["uploaded_at"] = time.time() - 25 * 3600
    meta.write_text(json.dumps(data))
    response = apply(admin_client, token, html)
    assert response.headers["Location"].endswith(UPLOAD)
    assert not (folder / f"{token}.csv").exists()
    assert admin_client.get(f"{UPLOAD}../../etc/passwd").status_code in (302, 404)
    assert admin_client.get(f"{UPLOAD}nonsense-token").status_code == 302


def test_nothing_is_written_when_the_apply_fails_midway(admin_client, admin, make_user):
    """A writer slips a conflicting account in after the plan was checked: the apply stops at
    the unique index, and nothing of the import (teams, people, changes) is kept."""
    make_user(email="old@example.com", display_name="Old Name")
    db.session.commit()
    lines = [HEADER, "New Name,old@example.com,Brand New,", "Zed,zed@example.com,Brand New,"]
    token = token_of(upload(admin_client, csv_bytes(lines), create_teams=True))
    _, html = preview(admin_client, token)
    engine = db.engine
    fired = []

    def intrude(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO users") and not fired:
            fired.append(True)
            raw = cursor.connection.cursor()
            mark = "%s" if engine.dialect.name == "postgresql" else "?"
            raw.execute(
                "INSERT INTO users (email, display_name, role, is_active, email_opt_out, "
                f"security_stamp, created_at) VALUES ({', '.join([mark] * 7)})",
                ("zed@example.com", "Intruder", "employee", True, False, "s", "2026-01-01"),
            )

    event.listen(engine, "before_cursor_execute", intrude)
    try:
        response = apply(admin_client, token, html)
    finally:
        event.remove(engine, "before_cursor_execute", intrude)
    assert fired and response.status_code == 302
    follow = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "nothing was imported" in follow
    everyone = people()
    assert "zed@example.com" not in everyone
    assert everyone["old@example.com"].display_name == "Old Name"
    assert db.session.scalar(sa.select(Team).where(Team.name == "Brand New")) is None
    assert db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "people.import")) is None


# The file -----------------------------------------------------------------------------------------
def test_oversize_file_is_refused_with_a_clear_message(admin_client, app):
    app.config["PEOPLE_IMPORT_MAX_BYTES"] = 100
    response = upload(admin_client, csv_bytes(["name,email"] + ["A,a@example.com"] * 20))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "The file is larger than 0.0001 MB" in html
    assert not list((Path(app.config["UPLOAD_DIR"]) / "imports").glob("*.csv"))


def test_more_rows_than_allowed_is_a_clear_message(tmp_path, app):
    from app.errors import ValidationError

    with pytest.raises(ValidationError, match="more than 3 people"):
        plan_of(tmp_path, ["name,email"] + [f"P,p{i}@example.com" for i in range(4)], max_rows=3)


def test_missing_columns_are_refused_at_upload(admin_client):
    response = upload(admin_client, csv_bytes(["full name,department", "Ann,Sales"]))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "The file needs an email column" in html
    assert "Columns found: &#39;full name&#39;, &#39;department&#39;." in html


@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1"])
def test_bom_latin1_and_semicolons(admin_client, encoding):
    data = csv_bytes(["Display Name;E-mail;Team;Manager_Email", "Zoë Ørsted;zoe@example.com;;"],
                     encoding)
    token = token_of(upload(admin_client, data))
    _, html = preview(admin_client, token)
    assert count(html, "new") == 1 and count(html, "errors") == 0
    apply(admin_client, token, html)
    assert people()["zoe@example.com"].display_name == "Zoë Ørsted"


def test_control_characters_are_cleaned(tmp_path, app):
    plan = plan_of(tmp_path, ["name,email", "Ann\x00 \u202eBee,ann@example.com"])
    assert plan.created[0].name == "Ann Bee"


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_upload_still_needs_its_csrf_token(admin_client):
    """The page skips the global CSRF check (it would read the body under the smaller
    MAX_CONTENT_LENGTH); the form's own token check must still hold."""
    data = csv_bytes(["name,email", "Ann,ann@example.com"])
    response = upload(admin_client, data)
    assert response.status_code == 200 and "CSRF" in response.get_data(as_text=True)
    page = admin_client.get(UPLOAD).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = admin_client.post(UPLOAD, data={"file": (io.BytesIO(data), "p.csv"),
                                               "csrf_token": token},
                                 content_type="multipart/form-data")
    assert response.status_code == 302


def test_the_import_accepts_files_larger_than_other_requests(admin_client, app):
    app.config.update(MAX_CONTENT_LENGTH=2000, PEOPLE_IMPORT_MAX_BYTES=20_000)
    data = csv_bytes(["name,email"] + [f"Person {i},p{i}@example.com" for i in range(200)])
    assert 2000 < len(data) < 20_000
    token_of(upload(admin_client, data))


def test_a_spreadsheet_file_is_explained(admin_client):
    response = upload(admin_client, b"PK\x03\x04\x14\x00binary stuff\n", filename="people.xlsx")
    assert "This is a spreadsheet file, not CSV" in response.get_data(as_text=True)


def test_new_people_can_be_invited(admin_client, admin, outbox):
    lines = ["name,email", "Ann,ann@example.com", "Bo,bo@example.com"]
    token = token_of(upload(admin_client, csv_bytes(lines), invite=True))
    _, html = preview(admin_client, token)
    assert "2 new people get an invitation email" in html
    apply(admin_client, token, html)
    assert sorted(m["To"] for m in outbox) == ["ann@example.com", "bo@example.com"]
    assert people()["ann@example.com"].invited_at is not None


def test_the_people_list_leads_to_the_import(admin_client):
    html = admin_client.get("/admin/users").get_data(as_text=True)
    assert f'href="{UPLOAD}">Import people</a>' in html


def test_only_admins_reach_the_import(employee_client, editor_client):
    assert employee_client.get(UPLOAD).status_code == 403
    assert editor_client.get(UPLOAD).status_code == 403


# The command line ---------------------------------------------------------------------------------
def test_cli_dry_run_and_apply(app, tmp_path, make_user):
    make_user(Role.ADMIN, email="root@example.com")
    db.session.commit()
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([HEADER, "Ann,ann@example.com,Ops,", "Bo,bo@example.com,Ops,"]))
    runner = app.test_cli_runner()

    result = runner.invoke(args=["people", "import", str(good), "--dry-run", "--create-teams"])
    assert result.exit_code == 0, result.output
    assert "2 rows: 2 new, 0 updated, 0 unchanged, 0 with errors; 1 new team." in result.output
    assert "Dry run: nothing was changed." in result.output
    assert "ann@example.com" not in people()

    result = runner.invoke(args=["people", "import", str(good), "--create-teams"])
    assert result.exit_code == 0, result.output
    assert people()["ann@example.com"].team.name == "Ops"

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([HEADER, "Cy,cy@example.com,,", "Bad,bad,,"]))
    result = runner.invoke(args=["people", "import", str(bad)])
    assert result.exit_code == 1
    assert "row 3: 'bad' is not a valid email address." in result.output
    assert "cy@example.com" not in people()
    result = runner.invoke(args=["people", "import", str(bad), "--dry-run"])
    assert result.exit_code == 0

    result = runner.invoke(args=["people", "import", str(good), "--invite"])
    assert result.exit_code == 1 and "--actor" in result.output


# In a real browser, on a phone ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.browser
def test_import_in_a_phone_sized_browser(browser, live_server, admin, make_user, tmp_path):
    """Upload, read the preview (errors, changes, people to deactivate), correct, confirm and
    apply at 390 px: no horizontal scrolling, no serious axe-core finding, no console error."""
    from tests.browser.test_accessibility import AXE_PATH
    from tests.browser.test_accessibility import _violations
    from tests.fixtures.browser import TIMEOUT_MS
    from tests.fixtures.browser import _unavailable
    from tests.fixtures.browser import sign_in

    if not AXE_PATH.is_file():
        _unavailable(f"axe-core not found at {AXE_PATH}")
    make_user(email="lou@example.com", display_name="Leaver Lou")
    make_user(email="kim@example.com", display_name="Kim Before")
    db.session.commit()
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(script=AXE_PATH.read_text(encoding="utf-8"))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        sign_in(page, admin)

        def check(name: str) -> None:
            page.wait_for_load_state("load")  # after a click: measured with the stylesheets in
            assert _violations(page) == [], name
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{name} scrolls sideways ({width}px)"

        bad = tmp_path / "bad.csv"
        bad.write_bytes(csv_bytes([HEADER, "Kim After,kim@example.com,,",
                                   "Nope,not-an-email,,", "Ann,ann@example.com,Ops,"]))
        page.goto(UPLOAD)
        check("upload")
        page.get_by_label("CSV file").set_input_files(str(bad))
        page.get_by_label("Deactivate people who are not in the file").check()
        page.get_by_role("button", name="Preview the import").click()
        page.get_by_role("heading", name="Rows with errors").wait_for()
        check("preview with errors")
        assert page.get_by_role("button", name="Apply the import").count() == 0

        good = tmp_path / "good.csv"
        good.write_bytes(csv_bytes([HEADER, "Kim After,kim@example.com,,",
                                    f"{admin.display_name},{admin.email},,"]))
        page.goto(UPLOAD)
        page.get_by_label("CSV file").set_input_files(str(good))
        page.get_by_label("Deactivate people who are not in the file").check()
        page.get_by_role("button", name="Preview the import").click()
        page.get_by_text("Leaver Lou (lou@example.com)").wait_for()
        check("preview")
        page.get_by_label("Yes, deactivate them").check()
        page.get_by_role("button", name="Apply the import").click()
        page.get_by_text("Import done.").wait_for()
    finally:
        context.close()
    assert problems == []
    everyone = people()
    assert everyone["kim@example.com"].display_name == "Kim After"
    assert not everyone["lou@example.com"].is_active_user
