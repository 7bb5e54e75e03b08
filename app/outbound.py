"""What every outbound delivery (chat posts, webhooks) shares: where a server may post (the
address rule), the remote server's answer (`Answer`, Retry-After, what a failure shows without
leaking the URL), the backoff, the claim of one due row across processes, storing an outcome
only while the claim holds, and the background thread that sends rows handed over after a commit.

The address rule (`host_refusal`, `address_refusal`) is the one check of where this server may
send a POST an admin configured: webhook and chat URLs when saved, and every webhook attempt
again right before its request. The host is resolved with `socket.getaddrinfo` and refused when
ANY of its addresses is unspecified (0.0.0.0/8, ::), link-local (169.254/16, fe80::/10: cloud
metadata lives there), multicast, reserved or broadcast, a known cloud metadata address or name
(metadata.google.internal, …), loopback unless the caller allows it (development and tests post
to a loopback server), or private / not globally routable unless the caller allows it (webhooks
do: an intranet page is a typical receiver; chat's providers are public services). IPv6 forms
that carry an IPv4 address (::ffff:a.b.c.d, 64:ff9b::/96 NAT64, 6to4, Teredo) are judged by that
IPv4 address, and an IPv4 address written in any other form than four decimal numbers
(`2852039166`, `0x7f.1`, `0`, `0177.0.0.1`) is refused outright.

Limit left: resolve-then-connect. The HTTP client resolves the name again when it connects, so a
name whose DNS answer changes between the check and the connection (DNS rebinding, TTL 0) can
still reach a refused address once. Closing that needs connecting to the checked address itself
(pinning it, with the Host header and TLS name kept); the check still stops every static record
and literal address, and a name that does not resolve at save time is checked at each send.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import queue
import re
import socket
import ssl
import threading
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any
from typing import TypeVar
from urllib.parse import SplitResult
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Row

from app.after_commit import AfterCommit
from app.errors import ValidationError
from app.models import utcnow
from app.signals import outbound_attempted
from app.text import clean_text

C = TypeVar("C")
RESPONSE_TEXT_MAX = 1000  # what is kept of an answer (shown to admins)
RETRY_AFTER_MAX = 86_400  # a Retry-After beyond a day is taken as a day

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud instance metadata services, by name and by address (those not link-local already).
METADATA_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.internal",
    "instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com",
    "metadata.platformequinix.com", "metadata.packet.net",
})  # fmt: skip
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "fd00:ec2::254",  # AWS IMDS over IPv6 (a unique-local address)
    "100.100.100.200",  # Alibaba Cloud (shared address space)
    "168.63.129.16",  # Azure's host agent ("wireserver")
))  # fmt: skip
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST_RE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$", re.I)


@dataclass(frozen=True)
class Answer:
    """What a remote server said: status code (None: no answer, e.g. a timeout or refused
    connection), its body (or the error) trimmed, and Retry-After in seconds when given."""

    code: int | None
    text: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        """A refusal retrying cannot fix: a redirect (3xx, never followed: a post goes only to
        the saved URL), or the URL wrong, revoked or the body refused (4xx), except "try later"
        answers (408 timeout, 425 too early, 429 rate limited)."""
        return self.code is not None and 300 <= self.code < 500 and self.code not in (408, 425, 429)


def trim(text: str | None, limit: int) -> str:
    """One line, at most `limit` characters, ending in "…" when cut."""
    line = clean_text(text)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def response_text(body: str | bytes | None) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return trim(body, RESPONSE_TEXT_MAX)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: chained exceptions, and exceptions passed as arguments or as a
    `reason` (requests wraps urllib3's MaxRetryError, which wraps the socket error)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 20:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]  # fmt: skip
        todo += [e for e in nested if isinstance(e, BaseException)]
    return found


def failure_text(exc: BaseException) -> str:
    """What a send that got no answer shows admins: the exception's class and a fixed reason.

    Never the exception's own text: requests and urllib put the URL in it (e.g. "Max retries
    exceeded with url: /workflows/…&sig=<secret>"), and the URL is the secret.
    """
    causes = _causes(exc)
    reason = "no valid answer"
    for cause in causes:
        if isinstance(cause, TimeoutError | socket.timeout) or "Timeout" in type(cause).__name__:
            reason = "timed out"
        elif isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, socket.gaierror):
            reason = "host name not found"
        elif isinstance(cause, ssl.SSLError | ssl.CertificateError):
            reason = "TLS handshake failed (certificate or protocol)"
        elif isinstance(cause, ConnectionError):
            reason = "connection lost"
        elif isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
            reason = os.strerror(cause.errno)
        else:
            continue
        break
    return f"{type(exc).__name__}: {reason}"


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110); None when
    absent or unreadable; never negative, at most RETRY_AFTER_MAX."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - utcnow()).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def split_url(value: str | None, *, field: str, url_max: int, empty: str,
              credentials: str) -> tuple[str, SplitResult]:
    """The stripped URL and its parts, or a ValidationError on `field`: empty (`empty`), longer
    than `url_max`, spaces / control / non-ASCII characters, unparsable (a port that is not a
    number), not http(s) with a host, or with a user name or password (`credentials`)."""
    url = (value or "").strip()
    if not url:
        raise ValidationError(empty, field=field)
    if len(url) > url_max:
        raise ValidationError(f"The URL is too long: at most {url_max:,} characters.",
                              field=field)
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        raise ValidationError("Paste the URL exactly as given: no spaces, line breaks or "
                              "accented characters.", field=field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise ValidationError("This is not a valid URL.", field=field) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError("Enter the full address, starting with https://.", field=field)
    if parts.username is not None or parts.password is not None:
        raise ValidationError(credentials, field=field)
    return url, parts


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo client), else itself:
    ::ffff:169.254.169.254 is judged as 169.254.169.254."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return (address.ipv4_mapped or address.sixtofour
            or (address.teredo[1] if address.teredo else None) or address)


def _why_refused(address: IPAddress, *, loopback: bool, private: bool) -> str | None:
    inner = _embedded(address)
    if inner in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if inner.is_unspecified or inner in _THIS_NETWORK:
        return "an unspecified address"
    if inner.is_loopback:
        return None if loopback else "this server (loopback)"
    if inner.is_link_local:
        return "link-local (where cloud metadata lives)"
    if inner.is_multicast:
        return "a multicast address"
    if inner.is_reserved or (isinstance(inner, ipaddress.IPv6Address) and inner.is_site_local):
        return "a reserved address"
    if not private and (inner.is_private or not inner.is_global):
        return "inside the company network (a private address)"
    return None


def _shown(address: IPAddress) -> str:
    inner = _embedded(address)
    return str(address) if inner == address else f"{address} ({inner})"


def address_refusal(address: IPAddress, *, loopback: bool, private: bool) -> str | None:
    """Why this server may not POST to `address` ("169.254.169.254 is link-local …"), or None
    when it may.

    Always refused: unspecified (0.0.0.0/8, ::), cloud metadata addresses, link-local,
    multicast, reserved (IPv4 240/4 with the broadcast address, IPv6 reserved blocks,
    site-local). Loopback only with `loopback`; private and other addresses that are not
    globally routable (10/8, 192.168/16, 100.64/10, fc00::/7, …) only with `private`.
    """
    why = _why_refused(address, loopback=loopback, private=private)
    return None if why is None else f"{_shown(address)} is {why}"


def _literal(name: str) -> IPAddress | None:
    """The IP address `name` is written as (an IPv6 zone such as %eth0 dropped), else None."""
    try:
        return ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return None


def resolve(host: str, port: int | None) -> list[IPAddress] | None:
    """Every address `host` resolves to (socket.getaddrinfo), or None when it does not."""
    try:
        found = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    addresses = [a for info in found if (a := _literal(str(info[4][0]))) is not None]
    return addresses or None


def host_refusal(host: str, *, loopback: bool, private: bool, port: int | None = None,
                 unresolved: str | None = None) -> str | None:
    """Why this server may not POST to `host` (a URL's host name or IP address), or None.

    An IP address, or every address a name resolves to, goes through `address_refusal`; a
    known metadata name, "localhost" (without `loopback`) and an IPv4 address not written as
    four decimal numbers are refused without asking DNS. A name that does not resolve gives
    `unresolved` (None at save time: it is checked again before each send).
    """
    name = host.lower().rstrip(".")
    if not name:
        return "the address has no host"
    literal = _literal(name)
    if literal is None and _NUMERIC_HOST_RE.match(name):
        try:
            meant: IPAddress | None = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            meant = None
        why = meant and _why_refused(meant, loopback=loopback, private=private)
        if why:
            return f"{host} means {meant}, which is {why}"
        written = f"{host} means {meant}" if meant is not None else f"{host} is not an address"
        return f"{written}: write an IP address as four decimal numbers"
    if name in METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    if literal is not None:
        return address_refusal(literal, loopback=loopback, private=private)
    if name == "localhost" or name.endswith(".localhost"):
        return None if loopback else f"{host} is this server (loopback)"
    addresses = resolve(name, port)
    if addresses is None:
        return unresolved
    for address in dict.fromkeys(addresses):
        why = _why_refused(address, loopback=loopback, private=private)
        if why is not None:
            return f"{host} resolves to {_shown(address)}, which is {why}"
    return None


def url_refusal(url: str, *, loopback: bool, private: bool,
                unresolved: str | None = None) -> str | None:
    """`host_refusal` for a URL's host (and port); an unreadable URL is refused."""
    try:
        parts = urlsplit(url)
        port = parts.port or (80 if parts.scheme == "http" else 443)
    except ValueError:
        return "the URL cannot be read"
    return host_refusal(parts.hostname or "", loopback=loopback, private=private, port=port,
                        unresolved=unresolved)


def retry_delay(attempts: int, base: int, maximum: int) -> int:
    """Seconds before the next try after `attempts` failed ones: `base` doubling, capped."""
    return max(0, min(base * 2 ** max(0, attempts - 1), maximum))


def next_delay(answer: Answer, attempts: int, base: int, maximum: int) -> int:
    """The answer's Retry-After when it gave one (at least a second), else the backoff."""
    if answer.retry_after is not None:
        return max(1, math.ceil(answer.retry_after))
    return retry_delay(attempts, base, maximum)


def due(table: sa.Table, now: datetime, lease_seconds: int, pending: object,
        sending: object) -> sa.ColumnElement[bool]:
    """Rows to send now: pending with no next attempt or one that has come, or `sending` with
    a claim older than the lease (its process died or hangs)."""
    t = table
    return sa.or_(
        sa.and_(t.c.status == pending,
                sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now)),
        sa.and_(t.c.status == sending,
                t.c.claimed_at < now - timedelta(seconds=lease_seconds)),
    )  # fmt: skip


def insert_once(session: Any, table: sa.Table, values: dict[str, Any],
                unique: Sequence[str]) -> int | None:
    """INSERT … ON CONFLICT (`unique`) DO NOTHING RETURNING id: the new row's id, or None when
    the row was there already (even two dispatchers at once add one row)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (insert(table).values(**values).on_conflict_do_nothing(index_elements=list(unique))
            .returning(table.c.id))  # fmt: skip
    return session.execute(stmt).scalar_one_or_none()


class Outcome(Enum):
    DONE = "done"
    FAILED = "failed"  # given up now
    DEFERRED = "deferred"  # to be retried
    LOST = "lost"  # the claim was taken again meanwhile: nothing recorded


@dataclass
class PassStats:
    done: int = 0
    failed: int = 0
    deferred: int = 0
    stopped: str | None = None
    pruned: int = 0

    @property
    def processed(self) -> int:
        return self.done + self.failed + self.deferred


def run_pass(
    claim: Callable[[int, frozenset[int]], C | None],
    attempt: Callable[[C], Outcome],
    key: Callable[[C], tuple[int, int]],
    should_stop: Callable[[], bool] | None = None,
    *,
    log: logging.Logger,
    label: str,
    channel: str,
    quiet: bool = False,
) -> PassStats:
    """Claim and attempt rows one at a time, in id order, until none is due.

    `claim(after_id, resting)` returns the next due row after `after_id` outside the `resting`
    groups; `key(row)` is (row id, group: its endpoint or destination). A group that fails is
    left alone for the rest of the pass, so an outage costs one timeout per pass, not one per
    row. Logged at the end unless `quiet` and all went well (a single row sent after a commit).
    Each attempt's outcome is signalled as `channel` (app.signals.outbound_attempted).
    """
    stats = PassStats()
    resting: set[int] = set()
    after_id = 0
    while True:
        if should_stop is not None and should_stop():
            stats.stopped = "shutting down"
            break
        claimed = claim(after_id, frozenset(resting))
        if claimed is None:
            break
        after_id, group = key(claimed)
        outcome = attempt(claimed)
        outbound_attempted.send(channel, outcome=outcome)
        if outcome is Outcome.DONE:
            stats.done += 1
        elif outcome is not Outcome.LOST:
            resting.add(group)
            stats.failed += outcome is Outcome.FAILED
            stats.deferred += outcome is Outcome.DEFERRED
    if stats.processed and (stats.failed or stats.deferred or not quiet):
        log.info("%s: %d done, %d failed, %d deferred", label, stats.done, stats.failed,
                 stats.deferred)
    return stats


def claim_one(
    conn: Connection,
    table: sa.Table,
    pick: sa.Select,
    values: dict[str, Any],
    returning: Sequence[sa.ColumnElement[Any]],
) -> Row[Any] | None:
    """Atomically apply `values` (e.g. status → sending, claimed_at) to the one row `pick`
    selects (a SELECT of the id, ordered, LIMIT 1) and return `returning` of it.

    PostgreSQL: a MATERIALIZED CTE with FOR UPDATE SKIP LOCKED, so two processes never claim
    the same row and neither waits for the other; SQLite has one writer at a time anyway.
    """
    if conn.dialect.name == "postgresql":
        picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        stmt = sa.update(table).where(table.c.id == picked.c.id)
    else:
        stmt = sa.update(table).where(table.c.id.in_(pick.scalar_subquery()))
    return conn.execute(stmt.values(**values).returning(*returning)).first()


def store_if_claimed(
    conn: Connection, table: sa.Table, row_id: int, claimed_at: datetime, sending: object,
    values: dict[str, Any],
) -> bool:
    """Store an outcome on the row only while this claim holds (still `sending` with this
    `claimed_at`); False when the claim was lost (taken again after its lease, or deleted)."""
    result = conn.execute(
        sa.update(table)
        .where(table.c.id == row_id, table.c.status == sending, table.c.claimed_at == claimed_at)
        .values(**values)
    )
    return bool(result.rowcount)


class Worker:
    """A daemon thread running `handle(ids)` in the app's context for the ids handed to it.

    Daemon: a process that exits does not wait for a slow remote server; a row it was sending
    stays `sending` and the scheduler takes it again after the lease.
    """

    def __init__(self, app: Flask, name: str, handle: Callable[[list[int]], object],
                 log: logging.Logger) -> None:
        self.app = app
        self.pid = os.getpid()
        self.handle = handle
        self.log = log
        self.queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self.pending = 0
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def submit(self, ids: list[int]) -> None:
        with self.changed:
            self.pending += 1
        self.queue.put(ids)

    def wait(self, timeout: float) -> bool:
        """True once everything handed over so far is done (tests, shutdown)."""
        with self.changed:
            return self.changed.wait_for(lambda: self.pending == 0, timeout)

    def _loop(self) -> None:
        while True:
            ids = self.queue.get()
            try:
                with self.app.app_context():
                    self.handle(ids)
            except Exception:
                self.log.exception("%s: sending %d row(s) after commit failed; the scheduler "
                                   "retries", self.thread.name, len(ids))
            finally:
                with self.changed:
                    self.pending -= 1
                    self.changed.notify_all()


_worker_lock = threading.Lock()


def worker_for(app: Flask, key: str, name: str, handle: Callable[[list[int]], object],
               log: logging.Logger) -> Worker:
    """The app's worker stored under `app.extensions[key]`, started on first use and again in
    a forked child (a thread does not survive a fork)."""
    with _worker_lock:
        worker = app.extensions.get(key)
        if worker is None or worker.pid != os.getpid():
            worker = app.extensions[key] = Worker(app, name, handle, log)
        return worker


def wait_idle(app: Flask, key: str, timeout: float = 30.0) -> bool:
    """Wait until the worker under `key` (if any) has done what it was handed; True if so."""
    worker = app.extensions.get(key)
    return worker is None or worker.wait(timeout)


class Background:
    """Rows sent right after the commit that wrote them, off the committing thread: the
    session bookkeeping (app.after_commit) and the app's worker thread, under one `name`."""

    def __init__(self, name: str, handle: Callable[[list[int]], object], log: logging.Logger,
                 noun: str) -> None:
        self.name = name
        self.key = f"fgf.{name}.worker"
        self.handle = handle
        self.log = log
        self.after_commit = AfterCommit(pending_key=f"feelgood.{name}.pending",
                                        committed_key=f"feelgood.{name}.committed",
                                        handle=self._hand_off, log=log, doing="handing over",
                                        noun=noun)

    def _hand_off(self, ids: list[int]) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        worker_for(app, self.key, f"fgf-{self.name}", self.handle, self.log).submit(ids)

    def record(self, session: Any, row: Any) -> None:
        """Send `row` (added to `session`, flushed) once the transaction commits; a rollback
        drops it with the row."""
        self.after_commit.record(session, row)

    def listen(self) -> None:
        self.after_commit.listen()

    def wait(self, app: Flask, timeout: float = 30.0) -> bool:
        return wait_idle(app, self.key, timeout)
