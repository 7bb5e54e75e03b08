"""`make run`: links follow PORT in development, and every way of stopping it stops both children.

The process tests start the real `python -m app.devserver` (web server + scheduler) on a free port
with a temp SQLite database, stop it the way a terminal, a process manager or a crash would, and
check through /proc and the port that nothing is left behind.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

import config
from app import create_app
from app.devserver import GRACE_SECONDS
from app.devserver import banner
from app.extensions import db
from app.mail import get_outbox
from app.models import Role
from tests import factories
from tests.fixtures.database import empty_database
from tests.fixtures.users import login

ROOT = Path(__file__).resolve().parent.parent
ENV_NAMES = ("PORT", "BASE_URL")


# -- BASE_URL follows PORT in development --------------------------------------------------------


@pytest.fixture
def dev_config() -> Iterator:
    """`load(PORT=..., BASE_URL=...)`: config.py evaluated again under that environment (its
    defaults are read when the module is imported); the real environment is restored after."""
    saved = {name: os.environ.get(name) for name in ENV_NAMES}

    def load(**environ: str) -> type[config.Config]:
        for name in ENV_NAMES:
            os.environ.pop(name, None)
        os.environ.update(environ)
        return importlib.reload(config).Development

    yield load
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    importlib.reload(config)


def test_base_url_follows_port_unless_set(dev_config):
    assert dev_config().BASE_URL == "http://127.0.0.1:5000"
    assert dev_config(PORT="5102").BASE_URL == "http://127.0.0.1:5102"
    explicit = dev_config(PORT="5102", BASE_URL="https://fgf.example.com")
    assert (explicit.PORT, explicit.BASE_URL) == (5102, "https://fgf.example.com")


def test_banner_shows_the_address_and_an_explicit_base_url(dev_config):
    text = banner(dev_config(PORT="5102"))
    assert "running on http://127.0.0.1:5102 " in text and "5000" not in text
    assert "BASE_URL" not in text  # the links are the address: nothing more to say
    text = banner(dev_config(PORT="5102", BASE_URL="https://fgf.example.com"))
    assert "running on http://127.0.0.1:5102 " in text
    assert "Links in emails and feeds use BASE_URL: https://fgf.example.com" in text


def _development_app(settings: type[config.Config], database_url: str, tmp_path: Path) -> Flask:
    """The development configuration on the test database, with test mail (memory) and forms."""
    return create_app(
        settings,
        SQLALCHEMY_DATABASE_URI=database_url,
        TESTING=True,
        DEBUG=False,
        MAIL_BACKEND="memory",
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=False,
        MAIL_OUTBOX_DIR=str(tmp_path / "outbox"),
        UPLOAD_DIR=str(tmp_path / "uploads"),
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PORT": "5102"}, "http://127.0.0.1:5102/"),
        ({"PORT": "5102", "BASE_URL": "https://fgf.example.com"}, "https://fgf.example.com/"),
    ],
)
def test_emailed_and_feed_links_use_the_port(dev_config, migrated_url, tmp_path, environ,
                                              expected):
    app = _development_app(dev_config(**environ), migrated_url, tmp_path)
    try:
        with app.app_context():
            admin = factories.make_user(Role.ADMIN, display_name="Ada Admin",
                                        email="ada@example.com")
            db.session.commit()
            client = login(app.test_client(), admin)
        response = client.post(
            "/admin/users/invite",
            data={"email": "priya@example.com", "display_name": "Priya Raman",
                  "role": "employee"},
        )
        assert response.status_code == 302
        (invitation,) = get_outbox(app)
        text = invitation.get_body(("plain",)).get_content()
        assert re.search(re.escape(expected) + r"invite/\S+", text), text
        assert "127.0.0.1:5000" not in text

        feed = client.get("/editions.atom").get_data(as_text=True)
        links = re.findall(r'(?:href="|<id>|<uri>)(https?://[^"<]+)', feed)
        assert links and all(link.startswith(expected) for link in links), links
    finally:
        with app.app_context():
            db.session.remove()
            empty_database(db.engine)
            db.engine.dispose()


# -- stopping `make run` ------------------------------------------------------------------------

STARTUP_SECONDS = 90  # two Python processes importing the app, on a busy CI machine
# "A few seconds": the web server stops at once, the scheduler between jobs; one stuck in its
# stop is killed after the devserver's grace period.
STOP_SECONDS = GRACE_SECONDS + 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """A new server could listen on `port` (as werkzeug binds: SO_REUSEADDR, so the closed
    connections' TIME_WAIT does not count, a listening socket does)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _children(pid: int) -> set[int]:
    """Every live process descending from `pid` (from /proc: no psutil needed)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.fixture(scope="module")
def dev_database(tmp_path_factory) -> str:
    """A fresh SQLite database with the schema, for the devserver's processes alone."""
    from flask_migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('devserver') / 'dev.db'}"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


class DevServer:
    """`command` (the devserver, or make) started in a session of its own, with its output kept."""

    def __init__(self, command: list[str], database_url: str, workdir: Path, **environ: str):
        self.port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k not in (*ENV_NAMES, "FLASK_DEBUG")},
            "FLASK_CONFIG": "development",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(workdir),
            "MAIL_OUTBOX_DIR": str(workdir / "outbox"),
            "UPLOAD_DIR": str(workdir / "uploads"),
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **environ,
        }
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
        self.seen: dict[int, str] = {}  # every descendant found (pid: command): orphans too
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_serving(self) -> set[int]:
        """Wait for the web page and both children; return every descendant process."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"never started:\n{self.output}"
            descendants = _children(self.process.pid)
            commands = " ".join(_cmdline(pid) for pid in descendants)
            if "scheduler run" in commands and "flask run" in commands:
                try:
                    with urllib.request.urlopen(  # noqa: S310 - our own local server
                        f"http://127.0.0.1:{self.port}/login", timeout=2
                    ) as response:
                        if response.status == 200:
                            self.seen.update(
                                (pid, _cmdline(pid)) for pid in _children(self.process.pid))
                            return set(self.seen)
                except OSError:
                    pass
            time.sleep(0.2)

    def kill(self) -> None:
        """Leave nothing running, whatever the test found (SIGKILL the whole tree)."""
        ours = {pid for pid, command in self.seen.items() if _cmdline(pid) == command}
        for pid in _alive(ours | _children(self.process.pid) | {self.process.pid}):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)  # ends when the last writer of the pipe is gone
        if self.process.stdout is not None and not self.reader.is_alive():
            self.process.stdout.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _assert_everything_stops(server: DevServer, children: set[int]) -> None:
    deadline = time.monotonic() + STOP_SECONDS
    while _alive(children) or not _port_is_free(server.port):
        assert time.monotonic() < deadline, (
            f"still running after {STOP_SECONDS} s: "
            f"{[_cmdline(p) for p in _alive(children)]}, port free: "
            f"{_port_is_free(server.port)}\n{server.output}"
        )
        time.sleep(0.1)
    server.process.wait(timeout=STOP_SECONDS)


def _process_test(test):
    """Real processes (slow), found through /proc (Linux)."""
    needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
    return pytest.mark.slow(needs_proc(test))


@pytest.fixture
def devserver(dev_database, tmp_path) -> Iterator:
    started: list[DevServer] = []

    def start(command: list[str] | None = None, **environ: str) -> DevServer:
        server = DevServer(command or [sys.executable, "-m", "app.devserver"], dev_database,
                           tmp_path, **environ)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.mark.parametrize(
    ("how", "environ"),
    [
        ("SIGTERM", {}),
        ("SIGHUP", {}),
        ("SIGINT to the terminal's process group", {}),
        # The reloader's server process (a grandchild) holds the port: it must go too.
        ("SIGTERM", {"FLASK_DEBUG": "1"}),
    ],
)
@_process_test
def test_a_stop_signal_stops_both_children_and_frees_the_port(devserver, how, environ):
    server = devserver(**environ)
    children = server.wait_until_serving()
    assert f"running on http://127.0.0.1:{server.port} " in server.output  # the banner
    if how.startswith("SIGINT"):
        os.killpg(server.process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    else:
        server.process.send_signal(getattr(signal, how))
    _assert_everything_stops(server, children)
    assert server.process.returncode == 0


@_process_test
def test_one_child_dying_stops_the_other(devserver):
    server = devserver()
    children = server.wait_until_serving()
    scheduler = next(p for p in children if "scheduler run" in _cmdline(p))
    os.kill(scheduler, signal.SIGKILL)
    _assert_everything_stops(server, children)
    assert "The scheduler stopped" in server.output
    assert server.process.returncode != 0


@_process_test
def test_sigterm_to_make_stops_everything(devserver):
    # `-o seed`: the demo data (and the migration before it) are not remade for this test.
    server = devserver(["make", "--no-print-directory", "-o", "seed", "run"])
    children = server.wait_until_serving()
    server.process.send_signal(signal.SIGTERM)
    _assert_everything_stops(server, children)

