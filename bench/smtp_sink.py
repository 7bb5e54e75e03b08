"""A counting SMTP sink for benchmarks: accepts every message, keeps nothing but counters.

Runs in its own process (`python bench/smtp_sink.py --port N`), so the sender being measured
does not share a CPU-bound event loop with it. Prints "READY <port>" once listening; on SIGTERM
(or SIGINT) prints "COUNT <messages> <recipients> <bytes>" and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session


class CountingHandler:
    def __init__(self) -> None:
        self.messages = 0
        self.recipients = 0
        self.bytes = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        self.bytes += len(envelope.original_content or b"")
        return "250 OK"


async def serve(host: str, port: int) -> CountingHandler:
    handler = CountingHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.local", data_size_limit=None), host, port
    )
    actual = server.sockets[0].getsockname()[1]
    print(f"READY {actual}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    return handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    handler = asyncio.run(serve(args.host, args.port))
    print(f"COUNT {handler.messages} {handler.recipients} {handler.bytes}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
