"""The logo on disk: one upload becomes one PNG, `UPLOAD_DIR/branding/<key>.png`.

Pillow proves the upload is a picture (it is verified, then every pixel decoded: a renamed text
file or a truncated image is refused), a pixel cap refuses decompression bombs before anything
is decoded, and the picture is re-encoded from its pixels only (no EXIF, comments or ICC data).
PNG keeps a logo's transparency and every mail client shows it; an animated GIF keeps its first
frame. It is scaled down to fit MAX_SIZE (aspect kept, never enlarged): sharp at twice the size
it is shown in the site's header and the email's.

The key is random per upload, so `/brand/logo/<key>.png` always shows the same picture and may
be cached forever; a new logo gets a new key, and the old file goes after the commit that
replaced it (app.branding.subscribers).
"""

from __future__ import annotations

import io
import os
import secrets
import tempfile
import time
import warnings
from pathlib import Path

from flask import current_app
from PIL import Image
from PIL import ImageOps

from app.errors import ValidationError
from app.settings import LOGO_KEY_RE
from app.submissions.uploads import _DECODE_ERRORS

MAX_SIZE = (480, 144)  # px: the header shows it 36 px high, the email 48 px; twice for HiDPI
# A logo is a small picture: 25 megapixels is a large photo already, and decoding allocates
# width × height × 4 bytes, so anything bigger is refused before it is decoded.
MAX_PIXELS = 25_000_000
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
MIMETYPE = "image/png"
ACCEPT = "image/png,image/jpeg,image/webp,image/gif"
_INCOMING = ".incoming-"

NOT_AN_IMAGE = (
    "That file isn't a picture we can use (it may be damaged, or another kind of file renamed). "
    "Please upload a PNG, JPEG, WebP or GIF image."
)
TOO_MANY_PIXELS = (
    "That image has too many pixels to process (the limit is 25 megapixels). "
    "Please resize it to a few hundred pixels wide and try again."
)


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


class LogoTooLarge(ValidationError):
    """Over BRAND_LOGO_MAX_BYTES: the page answers 413 with the message."""

    status_code = 413

    def __init__(self, size: int, limit: int):
        shown, most = megabytes(size), megabytes(limit)
        shown = f"just over {most}" if shown == most else shown
        super().__init__(
            f"That file is {shown}; a logo may be at most {most}. "
            "Please choose a smaller one (a few hundred pixels wide is plenty)."
        )


def max_bytes() -> int:
    return int(current_app.config["BRAND_LOGO_MAX_BYTES"])


def logo_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "branding"


def new_key() -> str:
    return secrets.token_urlsafe(16)


def is_valid_key(key: str | None) -> bool:
    return bool(LOGO_KEY_RE.fullmatch(key or ""))


def path_for(key: str) -> Path | None:
    """The stored file for `key`, or None (not one of our keys, or deleted)."""
    if not is_valid_key(key):
        return None
    path = logo_dir() / f"{key}.png"
    return path if path.is_file() else None


def _open(data: bytes) -> Image.Image:
    """Open restricted to our formats; the size is known from the header, before decoding."""
    image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    if image.width < 1 or image.height < 1 or image.width * image.height > MAX_PIXELS:
        raise ValidationError(TOO_MANY_PIXELS)
    return image


def _decode(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* below twice its own limit: a refusal here too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = _open(data)
            fmt = probe.format
            probe.verify()  # structure and checksums; the object is unusable afterwards
            image = _open(data)
            if image.format != fmt:
                raise ValidationError(NOT_AN_IMAGE)
            image.load()  # every pixel (of the first frame): truncated data fails here
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationError(TOO_MANY_PIXELS) from None
    except ValidationError:
        raise
    except _DECODE_ERRORS:
        raise ValidationError(NOT_AN_IMAGE) from None
    return image


def render(data: bytes) -> bytes:
    """Check an uploaded logo and return it as a clean PNG fitting MAX_SIZE.

    Raises ValidationError (LogoTooLarge over BRAND_LOGO_MAX_BYTES) with a message for the person.
    """
    limit = max_bytes()
    if not data:
        raise ValidationError("That file is empty. Please choose a logo.")
    if len(data) > limit:
        raise LogoTooLarge(len(data), limit)
    image = _decode(data)
    try:
        return _png(image)
    except _DECODE_ERRORS:
        raise ValidationError(NOT_AN_IMAGE) from None
    finally:
        image.close()


def _png(image: Image.Image) -> bytes:
    image = ImageOps.exif_transpose(image)  # upright, as the EXIF we drop described
    has_alpha = "A" in image.mode or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "RGB")
    image.thumbnail(MAX_SIZE, Image.Resampling.LANCZOS)  # fits, aspect kept, never enlarged
    clean = Image.new(image.mode, image.size)  # a fresh image: pixels only, no metadata
    clean.paste(image)
    out = io.BytesIO()
    clean.save(out, "PNG", optimize=True)
    return out.getvalue()


def write(key: str, payload: bytes) -> None:
    """Store the logo (write, then rename: a reader never sees half a file)."""
    directory = logo_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_INCOMING)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        Path(tmp).replace(directory / f"{key}.png")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def delete(key: str) -> None:
    if is_valid_key(key):
        (logo_dir() / f"{key}.png").unlink(missing_ok=True)


def prune_orphans(keep: str | None, *, older_than_seconds: int = 86_400) -> int:
    """Delete logo files other than `keep` (uploads whose transaction was rolled back, an
    interrupted write) once they are `older_than_seconds` old; returns the files removed."""
    directory = logo_dir()
    if not directory.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in directory.iterdir():
        ours = path.suffix == ".png" and is_valid_key(path.stem)
        if not ours and not path.name.startswith(_INCOMING):
            continue
        if ours and path.stem == keep:
            continue
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
