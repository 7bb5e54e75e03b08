"""Profile photos on disk: one upload becomes three small square JPEGs, `<key>-<size>.jpg`.

The picture is proven and decoded by the cover-image pipeline (app.submissions.uploads: Pillow
verifies and fully decodes it, refuses decompression bombs and anything not JPEG, PNG, WebP or
GIF), then turned upright (EXIF orientation), centre-cropped to a square and re-encoded as fresh
images: pixels only, so no EXIF (GPS positions, camera serials), comments or ICC data survive.
JPEG because every mail client shows it, and a face has no transparency worth keeping.

The key is random per upload, so a URL always shows the same face and may be cached forever;
a new photo gets a new key and the old files go once nothing refers to them (app.photos.services).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from flask import current_app
from PIL import Image
from PIL import ImageOps

from app.errors import ValidationError
from app.submissions.uploads import _DECODE_ERRORS
from app.submissions.uploads import NOT_AN_IMAGE
from app.submissions.uploads import _decode
from app.submissions.uploads import _megabytes

SIZES = (48, 96, 256)
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
NAME_RE = re.compile(r"^([A-Za-z0-9_-]{22})-(48|96|256)\.jpg$")
MIMETYPE = "image/jpeg"
_INCOMING = ".incoming-"


class PhotoTooLarge(ValidationError):
    """Over PHOTO_MAX_BYTES: the profile page answers 413 with the message."""

    status_code = 413

    def __init__(self, size: int, limit: int):
        shown, most = _megabytes(size), _megabytes(limit)
        shown = f"just over {most}" if shown == most else shown
        super().__init__(
            f"That photo is {shown}; the limit is {most}. "
            "Please choose a smaller one (or resize it first)."
        )


def photo_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "photos"


def new_key() -> str:
    return secrets.token_urlsafe(16)


def is_valid_key(key: str | None) -> bool:
    return bool(KEY_RE.match(key or ""))


def file_name(key: str, size: int) -> str:
    return f"{key}-{size}.jpg"


def parse_name(name: str) -> tuple[str, int] | None:
    """(key, size) of a stored file name, or None for anything that is not one of ours."""
    match = NAME_RE.match(name or "")
    return (match.group(1), int(match.group(2))) if match else None


def path_for(key: str, size: int) -> Path | None:
    """The stored file for `key` at `size`, or None (unknown key or size, or deleted)."""
    if not is_valid_key(key) or size not in SIZES:
        return None
    path = photo_dir() / file_name(key, size)
    return path if path.is_file() else None


def render(data: bytes) -> dict[int, bytes]:
    """Check an uploaded or downloaded picture and make its square JPEGs, by size in pixels.

    Raises ValidationError (PhotoTooLarge over PHOTO_MAX_BYTES) with a message for the person.
    """
    limit = int(current_app.config["PHOTO_MAX_BYTES"])
    if not data:
        raise ValidationError("That file is empty. Please choose a photo.")
    if len(data) > limit:
        raise PhotoTooLarge(len(data), limit)
    image, _fmt = _decode(data)
    try:
        square = _upright_square(image)
        return {size: _jpeg(square, size) for size in SIZES}
    except _DECODE_ERRORS:
        raise ValidationError(NOT_AN_IMAGE) from None
    finally:
        image.close()


def _upright_square(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)  # the orientation the dropped EXIF described
    has_alpha = "A" in image.mode or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:  # JPEG has no transparency: flatten onto white, as a page would show it
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def _jpeg(square: Image.Image, size: int) -> bytes:
    resized = square.resize((size, size), Image.Resampling.LANCZOS)
    clean = Image.new("RGB", resized.size)  # a fresh image: pixels only, no metadata at all
    clean.paste(resized)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()


def write(key: str, renditions: dict[int, bytes]) -> None:
    """Store every size of `key` (write, then rename: a reader never sees half a file)."""
    directory = photo_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for size, payload in renditions.items():
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=_INCOMING)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            Path(tmp).replace(directory / file_name(key, size))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def delete(key: str) -> None:
    if not is_valid_key(key):
        return
    for size in SIZES:
        (photo_dir() / file_name(key, size)).unlink(missing_ok=True)


def stored_keys() -> set[str]:
    directory = photo_dir()
    if not directory.is_dir():
        return set()
    return {parsed[0] for p in directory.iterdir() if (parsed := parse_name(p.name))}


def prune_orphans(referenced: set[str], *, older_than_seconds: int = 86_400) -> int:
    """Delete photo files no account refers to (an upload whose transaction was rolled back,
    an interrupted write), once they are `older_than_seconds` old; returns the files removed."""
    directory = photo_dir()
    if not directory.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in directory.iterdir():
        parsed = parse_name(path.name)
        if parsed is None and not path.name.startswith(_INCOMING):
            continue
        if parsed is not None and parsed[0] in referenced:
            continue
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
