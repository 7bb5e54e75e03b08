"""`make run`: the development web server and the scheduler as two processes, one Ctrl-C.

The scheduler runs in its own process (never inside a web worker), exactly as in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main() -> int:
    env = {**os.environ, "FLASK_APP": "wsgi"}
    flask = [sys.executable, "-m", "flask"]
    commands = [flask + ["run", "--host", "127.0.0.1", "--port", os.environ.get("PORT", "5000")]]
    if _has_scheduler():
        commands.append(flask + ["scheduler", "run"])
    processes = [subprocess.Popen(cmd, env=env) for cmd in commands]  # noqa: S603
    print("\nFeel Good Fridays is running on http://127.0.0.1:5000  (Ctrl-C to stop)\n", flush=True)
    try:
        while all(p.poll() is None for p in processes):
            try:
                processes[0].wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return max((p.returncode or 0) for p in processes) if processes else 0


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
