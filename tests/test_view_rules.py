"""The rules for views, transactions and reads (docs/architecture.md, "Rules every part follows"):

- a view commits once and never rolls back nor catches around its commit: a DomainError that
  escapes is rolled back and rendered by the one error handler (app/web/errors.py);
- `queries.py` modules only read;
- SQLAlchemy listeners are attached by create_app's chain, never when a module is imported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.auth.access import public
from app.errors import Conflict
from app.errors import ValidationError
from app.extensions import db
from app.models import Team

ROOT = Path(__file__).resolve().parent.parent
VIEWS = sorted((ROOT / "app").glob("*/views.py"))
QUERIES = sorted((ROOT / "app").rglob("queries.py"))


def _calls(node: ast.AST, attr: str) -> list[ast.Call]:
    return [
        n for n in ast.walk(node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr
    ]


def _where(path: Path, node: ast.AST) -> str:
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return f"{name}:{node.lineno}"


def test_views_found():
    assert len(VIEWS) >= 10 and len(QUERIES) >= 6


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.parent.name)
def test_views_never_roll_back_nor_catch_around_a_commit(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    rollbacks = [_where(path, c) for c in _calls(tree, "rollback")]
    assert rollbacks == [], "views leave the rollback to app.web.errors (form_errors, caught...)"
    guarded = [
        _where(path, t) for t in ast.walk(tree)
        if isinstance(t, ast.Try) and any(_calls(s, "commit") for s in t.body)
    ]
    assert guarded == [], "no try/except around a commit: let the DomainError reach the handler"
    several = [
        f"{_where(path, f)} {f.name}" for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and len(_calls(f, "commit")) > 1
    ]
    assert several == [], "one commit per view"


SESSION_WRITES = {"add", "add_all", "delete", "merge", "commit", "begin_nested",
                  "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings"}
WRITE_STATEMENTS = {"update", "insert", "delete"}


def _writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in ("app.database", "app.audit"):
            found.append(f"{_where(path, node)} imports {node.module}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        if (
            (name in SESSION_WRITES and owner in ("db.session", "session"))
            or (name in WRITE_STATEMENTS and owner in ("", "sa", "sqlalchemy"))
            or name in ("begin_write", "emit", "transition_submission", "transition_edition")
            or (name == "record" and owner == "audit")
        ):
            found.append(f"{_where(path, node)} {ast.unparse(func)}")
    return found


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.parent.name)
def test_queries_modules_only_read(path: Path):
    assert _writes(path) == [], "queries.py only reads; writes live in services.py"


def test_the_queries_check_sees_writes(tmp_path: Path):
    sample = tmp_path / "queries.py"
    sample.write_text(
        "def f(t):\n"
        "    seen = set(); seen.add(1); {}.update(a=1); db.session.scalar(sa.select(T))\n"
        "    db.session.add(t); db.session.execute(sa.update(T).values(n=1)); begin_write()\n"
    )
    assert sorted(w.split(" ", 1)[1] for w in _writes(sample)) == [
        "begin_write", "db.session.add", "sa.update"]


# -- the one error handler ----------------------------------------------------------------------


@pytest.fixture()
def routes(app):
    """Views that write, then refuse, each the way a real view does."""
    from app.web.errors import errors_redirect_to
    from app.web.errors import form_errors

    def add_team(name: str) -> None:
        db.session.add(Team(name=name))
        db.session.flush()

    @app.post("/_test/refuse")
    @public
    def _refuse():
        add_team("Written then refused")
        raise Conflict("Someone else changed it at 10:42.")

    @app.post("/_test/back")
    @public
    def _back():
        errors_redirect_to("/somewhere")
        add_team("Written then sent back")
        raise ValidationError("Choose up or down.")

    @app.post("/_test/form")
    @public
    def _form():
        from flask_wtf import FlaskForm
        from wtforms import StringField

        class NameForm(FlaskForm):
            name = StringField("Name")

        form = NameForm()
        with form_errors(form.name):
            add_team("Written then shown on the form")
            raise ValidationError("That name is taken.")
        return f"form again: {form.name.errors}"

    return app


def _teams() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Team.name)))


@pytest.mark.own_app  # adds routes
def test_domain_error_renders_the_friendly_page_and_rolls_back(routes, client):
    response = client.post("/_test/refuse")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "<html" in page.lower() and "Someone else changed it at 10:42." in page
    assert _teams() == []

    response = client.post("/_test/refuse", headers={"Accept": "application/json"})
    assert response.status_code == 409
    assert response.json == {"error": "Someone else changed it at 10:42."}
    assert _teams() == []


@pytest.mark.own_app  # adds routes
def test_errors_redirect_to_flashes_and_goes_back(routes, client):
    response = client.post("/_test/back")
    assert response.status_code == 302 and response.location.endswith("/somewhere")
    with client.session_transaction() as session:
        assert ("error", "Choose up or down.") in session["_flashes"]
    assert _teams() == []
    scripted = client.post("/_test/back", json={})
    assert (scripted.status_code, scripted.json) == (400, {"error": "Choose up or down."})


@pytest.mark.own_app  # adds routes
def test_form_errors_rolls_back_and_the_view_renders_the_form(routes, client):
    response = client.post("/_test/form", data={"name": "x"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "form again: ['That name is taken.']"
    assert _teams() == []


def test_form_errors_puts_messages_on_their_fields(app):
    from flask_wtf import FlaskForm
    from wtforms import StringField

    from app.web.errors import form_errors

    class TwoFields(FlaskForm):
        title = StringField("Title")
        touchpoint = StringField("Touchpoint")

    class Invalid(ValidationError):
        def __init__(self, errors: dict[str, str]):
            super().__init__(next(iter(errors.values())))
            self.errors = errors

    with app.test_request_context(method="POST"):
        form = TwoFields()
        with form_errors(form) as refusal:
            raise Invalid({"title": "Too short.", "touchpoint_id": "Gone.", "other": "Odd."})
        assert isinstance(refusal.error, Invalid)
        assert form.title.errors == ["Too short."]
        assert form.touchpoint.errors == ["Gone."]
        assert form.form_errors == ["Odd."]
        with pytest.raises(Conflict), form_errors(form, ValidationError):
            raise Conflict("Not mine to show.")


# -- listeners --------------------------------------------------------------------------------


LISTENERS = textwrap.dedent(
    """
    import importlib, inspect, pkgutil
    import app
    from sqlalchemy import event, exc
    from sqlalchemy.engine import Engine
    from sqlalchemy.events import ConnectionEvents
    from sqlalchemy.orm import MapperEvents, SessionEvents
    from sqlalchemy.orm import Mapper, Session

    TARGETS = ((Session, SessionEvents), (Mapper, MapperEvents), (Engine, ConnectionEvents))
    modules = [importlib.import_module(i.name) for i in pkgutil.walk_packages(app.__path__, "app.")]
    # (owner module, callable): module-level functions, and the methods of module-level
    # objects of the app's own classes (the after-commit hooks of mail and events) and of the
    # app objects they hold (app.outbound.Background's AfterCommit: chat and webhooks).
    def app_object(value):
        return type(value).__module__.startswith("app.") and not inspect.isclass(value)

    functions = []
    for m in modules:
        for value in vars(m).values():
            if inspect.isfunction(value) and value.__module__ == m.__name__:
                functions.append((m.__name__, value))
            elif app_object(value):
                held = [v for v in getattr(value, "__dict__", {}).values() if app_object(v)]
                for obj in (value, *held):
                    methods = inspect.getmembers(obj, inspect.ismethod)
                    functions += [(m.__name__, f) for _n, f in methods]

    def ours():
        found = []
        for target, events in TARGETS:
            for name in (n for n in dir(events) if not n.startswith("_")):
                for owner, fn in functions:
                    try:
                        if event.contains(target, name, fn):
                            found.append(f"{target.__name__}.{name}: {owner}.{fn.__name__}")
                    except exc.InvalidRequestError:
                        break  # not an event of this target
        return sorted(set(found))

    print(len(ours()), ours())
    from app import create_app
    create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    first = ours()
    create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    print(len(first), len(ours()) - len(first))
    print(" ".join(sorted({line.split(": ")[1].rsplit(".", 1)[0] for line in first})))
    """
)


@pytest.mark.slow  # a fresh interpreter imports every module
def test_importing_registers_no_listeners_create_app_does_once():
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", LISTENERS], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    on_import, after_create, owners = result.stdout.splitlines()[-3:]
    assert on_import == "0 []", f"listeners attached on import: {on_import}"
    attached, again = (int(n) for n in after_create.split())
    assert set(owners.split()) == {
        "app.chat.delivery", "app.database", "app.events", "app.mail", "app.reading.cache",
        "app.reading.search", "app.webhooks.delivery",
    }  # every feature that listens is attached by create_app, none by an import
    assert attached > 0
    assert again == 0  # a second app attaches nothing twice
