"""`make run`: the development web server and the scheduler as two processes, stopped together.

The scheduler runs in its own process (never inside a web worker), exactly as in production.

Every way of stopping this process stops both children: Ctrl-C (SIGINT), SIGTERM (a process
manager, `kill`, or make forwarding its own SIGTERM), SIGHUP (the terminal closed), and one child
exiting on its own. Each child runs in a process group of its own, so the stop reaches what it
started too (the reloader's server process under FLASK_DEBUG=1) and a terminal's Ctrl-C reaches
the children only through here, once, in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import config

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# SIGTERM lets the scheduler finish the batch it is sending; SIGKILL after this long (a send cut
# short resumes where it stopped, and a child stuck in its stop must not keep `make run` alive).
GRACE_SECONDS = 5


def banner(settings: type[config.Config]) -> str:
    """What `make run` prints once both processes are started."""
    address = f"http://127.0.0.1:{settings.PORT}"
    lines = [f"Feel Good Fridays is running on {address}  (Ctrl-C to stop)"]
    if str(settings.BASE_URL).rstrip("/") != address:
        lines.append(f"Links in emails and feeds use BASE_URL: {settings.BASE_URL}")
    return "\n" + "\n".join(lines) + "\n"


def main() -> int:
    settings = config.Development
    env = {**os.environ, "FLASK_APP": "wsgi"}
    flask = [sys.executable, "-m", "flask"]
    commands = [flask + ["run", "--host", "127.0.0.1", "--port", str(settings.PORT)]]
    if _has_scheduler():
        commands.append(flask + ["scheduler", "run"])

    stop_signals: list[int] = []  # set by the handler, acted on by the loop: no race with Popen
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, _frame: stop_signals.append(signum))
    processes: list[subprocess.Popen] = []
    try:
        for command in commands:
            if stop_signals:
                break
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    command, env=env, stdin=subprocess.DEVNULL, process_group=0
                )
            )
        else:
            print(banner(settings), flush=True)
        while not stop_signals and all(p.poll() is None for p in processes):
            time.sleep(0.2)
    finally:
        # Stopping must not be interrupted by a second Ctrl-C half-way (children left running).
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if not stop_signals:
            _say_who_stopped(processes, commands)
        _stop(processes)
    if stop_signals:
        return 0
    return max((p.returncode or 0) for p in processes) if processes else 0


def _say_who_stopped(processes: list[subprocess.Popen], commands: list[list[str]]) -> None:
    for process, command in zip(processes, commands, strict=False):
        if process.returncode is not None:
            name = "scheduler" if "scheduler" in command else "web server"
            print(f"\nThe {name} stopped (exit code {process.returncode}); stopping the rest.",
                  file=sys.stderr, flush=True)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(process.pid, signum)


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to every child's group, wait for the children, then SIGKILL whatever is left."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        _signal_group(process, signal.SIGKILL)  # stragglers, e.g. a reloader's server process
        process.wait()


def _has_scheduler() -> bool:
    try:
        # Lazy on purpose: this only probes whether the scheduler can run here (its
        # dependencies are installed) before starting it as a second process.
        import app.newsletter.scheduler  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
