"""ZIP of a person's data ("download my data", and an admin's download of it).

Built in a temporary file (spooled in memory up to `SPOOL_BYTES`, then on disk), one JSON file
per kind written item by item, so its size is bounded by the disk, not by memory. The profile
photo is added as the largest stored rendition. `README.txt` says what each file holds.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterable
from datetime import date
from typing import IO
from typing import Any

from app import audit
from app.models import User
from app.models import utcnow
from app.photos import storage as photos
from app.privacy import queries

SPOOL_BYTES = 8 * 1024 * 1024

FILES = {
    "profile.json": "Your account: name, email, role, team, manager, time zone, sign-in links.",
    "stories.json": "The stories you wrote, with every saved revision.",
    "quotes.json": "The customer quotes you shared, with every saved revision.",
    "comments.json": "Your comments on stories.",
    "applause.json": "The stories you applauded.",
    "recognitions.json": "Stories that recognize you (whoever wrote them).",
    "deliveries.json": "Each weekly edition sent to you, and what the mail server said.",
    "reading.json": "Opens and clicks recorded as yours (per-person analytics only).",
    "notification_preferences.json": "Your email notification choices.",
    "tokens.json": "Your API and feed tokens (names and dates; secrets are never stored).",
    "audit.json": ("The audit trail of what was done to your account (with the details), and "
                   "of what you did (what, on which record and when; the details are about "
                   "others)."),
}


def filename(user: User, today: date | None = None) -> str:
    return f"feelgood-data-{user.id}-{(today or utcnow().date()).isoformat()}.zip"


def _write_array(archive: zipfile.ZipFile, name: str, items: Iterable[dict[str, Any]]) -> int:
    count = 0
    with archive.open(name, "w") as raw:
        raw.write(b"[")
        for item in items:
            raw.write((b",\n" if count else b"\n")
                      + json.dumps(item, ensure_ascii=False, indent=1).encode())
            count += 1
        raw.write(b"\n]\n" if count else b"]\n")
    return count


def build(user: User, *, actor: User) -> IO[bytes]:
    """The person's data as a ZIP, positioned at its start; records who downloaded it in the
    audit trail (no content: ids and counts). The caller commits and closes the file."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes
    uid = user.id
    counts: dict[str, int] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("profile.json", "w") as raw:
            raw.write(json.dumps(queries.profile(user), ensure_ascii=False, indent=1).encode())
        sources: dict[str, Iterable[dict[str, Any]]] = {
            "stories.json": queries.stories(uid),
            "quotes.json": queries.quotes(uid),
            "comments.json": queries.comments(uid),
            "applause.json": queries.reactions(uid),
            "recognitions.json": queries.recognitions(uid),
            "deliveries.json": queries.deliveries(user),
            "reading.json": queries.reading_events(uid),
            "notification_preferences.json": queries.notification_preferences(uid),
            "tokens.json": queries.tokens(uid),
            "audit.json": queries.audit_entries(uid),
        }
        for name, items in sources.items():
            counts[name.removesuffix(".json")] = _write_array(archive, name, items)
        photo = photos.path_for(user.photo_key, max(photos.SIZES)) if user.photo_key else None
        if photo is not None:
            archive.write(photo, "photo.jpg")
        readme = [f"Feel Good Fridays: the data stored about account #{uid}, "
                  f"exported {utcnow().isoformat(timespec='seconds')}.", ""]
        readme += [f"{name}: {what}" for name, what in FILES.items()]
        if photo is not None:
            readme.append("photo.jpg: your profile photo.")
        archive.writestr("README.txt", "\n".join(readme) + "\n")
    audit.record(actor, "user.data_export", object_type="user", object_id=uid,
                 by_admin=actor.id != uid or None, counts=counts)
    out.seek(0)
    return out
