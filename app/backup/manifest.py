"""The backup's table of contents, `manifest.json`: what the archive holds and how to check it.

It names the database kind and its Alembic revision (restore decides from it whether the backup
fits this code), the row count of every table in the snapshot (restore compares the restored
database with them), and every file with its size and SHA-256 (restore checks them all before it
touches anything). The manifest checksums itself too, so a flipped byte in it is noticed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from dataclasses import field
from pathlib import PurePosixPath
from typing import IO
from typing import Any

from app.errors import ValidationError

NAME = "manifest.json"
FORMAT = "feelgood-backup"
FORMAT_VERSION = 1
DATABASE_DIR = "database"
UPLOADS_DIR = "uploads"
KINDS = ("sqlite", "postgresql")
CHUNK = 1024 * 1024


@dataclass
class FileEntry:
    path: str  # inside the archive, e.g. "uploads/photos/ab12-256.jpg"
    size: int
    sha256: str


@dataclass
class Manifest:
    created_at: str
    app_version: str
    database_kind: str
    database_member: str
    revision: str
    tables: dict[str, int]
    files: list[FileEntry] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def upload_files(self) -> list[FileEntry]:
        return [f for f in self.files if f.path.startswith(UPLOADS_DIR + "/")]

    def to_json(self) -> bytes:
        body = self._body()
        body["manifest_sha256"] = _digest(body)
        return json.dumps(body, indent=2, sort_keys=True).encode()

    def _body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "created_at": self.created_at,
            "app_version": self.app_version,
            "database": {
                "kind": self.database_kind,
                "member": self.database_member,
                "revision": self.revision,
                "tables": dict(sorted(self.tables.items())),
            },
            "files": [
                {"path": f.path, "size": f.size, "sha256": f.sha256}
                for f in sorted(self.files, key=lambda f: f.path)
            ],
            "directories": sorted(self.directories),
        }


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def parse(data: bytes) -> Manifest:
    """Read and check a manifest; anything unexpected is a ValidationError naming the problem."""
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError("not a Feel Good Fridays backup manifest")
        if body.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported backup format version {body.get('format_version')!r}")
        claimed = body.pop("manifest_sha256", None)
        if claimed != _digest(body):
            raise ValueError("its checksum does not match its content")
        database = body["database"]
        manifest = Manifest(
            created_at=str(body["created_at"]),
            app_version=str(body["app_version"]),
            database_kind=str(database["kind"]),
            database_member=str(database["member"]),
            revision=str(database["revision"]),
            tables={str(k): int(v) for k, v in database["tables"].items()},
            files=[
                FileEntry(path=str(f["path"]), size=int(f["size"]), sha256=str(f["sha256"]))
                for f in body["files"]
            ],
            directories=[str(d) for d in body["directories"]],
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValidationError(f"The backup's manifest is damaged: {error}.") from None
    if manifest.database_kind not in KINDS:
        raise ValidationError(
            f"The backup names an unknown database kind {manifest.database_kind!r}."
        )
    names = [f.path for f in manifest.files] + manifest.directories
    if len(set(names)) != len(names):
        raise ValidationError("The backup's manifest lists a path twice.")
    for name in names:
        check_member_name(name)
    if manifest.database_member not in {f.path for f in manifest.files}:
        raise ValidationError("The backup's manifest does not list its database file.")
    return manifest


def check_member_name(name: str) -> None:
    """Refuse what could land outside the restore directory: absolute paths, `..`, odd names."""
    path = PurePosixPath(name)
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("..", ".", "") for part in name.split("/"))
        or path.parts[0] not in (DATABASE_DIR, UPLOADS_DIR)
    ):
        raise ValidationError(f"The backup holds an unsafe path {name!r}: refused.")


class HashingReader:
    """A read-only file wrapper that hashes and counts what passes through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data

    def hexdigest(self) -> str:
        return self.hash.hexdigest()
