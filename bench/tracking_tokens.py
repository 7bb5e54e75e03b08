"""Per-message cost of the readership keys the sender computes for every recipient.

    .venv/bin/python bench/tracking_tokens.py            # 100,000 messages per measurement

`RecipientKeys.track` (the message's tag) and `.applause` (the signed applause token) fill the
TRACK and APPLAUSE markers of every message (app/newsletter/sending.py `_BatchSender._send_one`),
next to the unsubscribe token the sender already signs. Prints microseconds per message for
each, in both privacy modes, against that unsubscribe token: the readership keys should cost
about as much as it does, a few microseconds, nothing a send of 20,000 messages would notice.
Uses a throwaway SQLite database (the settings are read once, as in a sending pass).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _per_message_us(function: Callable[[int], None], count: int) -> float:
    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared
        start = time.perf_counter()
        function(count)
        best = min(best, time.perf_counter() - start)
    return best / count * 1e6


def _measure(messages: int) -> None:
    from app.engagement.recipients import RecipientKeys
    from app.extensions import db
    from app.newsletter import tokens
    from app.settings import set_settings

    signer = tokens.signer()

    def unsubscribe(n: int) -> None:
        for i in range(1, n + 1):
            tokens.make_unsubscribe_token(user_id=i, email=None, using=signer)

    baseline = _per_message_us(unsubscribe, messages)
    print(f"unsubscribe token (baseline)  {baseline:6.2f} µs/message")
    for mode in ("aggregate", "person"):
        set_settings({"analytics_mode": mode}, actor=None)
        db.session.commit()
        keys = RecipientKeys(1)

        def track(n: int, keys: RecipientKeys = keys) -> None:
            for i in range(1, n + 1):
                keys.track(i, i)

        def applause(n: int, keys: RecipientKeys = keys) -> None:
            for i in range(1, n + 1):
                keys.applause(i)

        def both(n: int, keys: RecipientKeys = keys) -> None:
            for i in range(1, n + 1):
                keys.track(i, i)
                keys.applause(i)

        t, a, b = (_per_message_us(f, messages) for f in (track, applause, both))
        print(f"{mode:9}  track {t:5.2f}  applause {a:5.2f}  track+applause {b:5.2f} µs/message"
              f"  ({b / baseline:.1f}× the unsubscribe token)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, LOG_LEVEL="WARNING")
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            _measure(args.messages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
