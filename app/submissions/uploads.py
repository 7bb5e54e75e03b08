"""Cover images: accept only real, reasonably sized pictures and store a clean re-encoded copy.

Why so strict: an upload is shown on pages and in every newsletter email. Decoding the whole
file with Pillow proves it is an image (a renamed script or HTML file is refused), re-encoding
drops whatever else it carried (EXIF with GPS positions, comments, polyglot payloads), and the
pixel cap stops "decompression bombs" (a tiny file that inflates to gigabytes) before decoding.

Stored files get random, unguessable names: `/uploads/<name>` is served without a session so
email clients can show the picture, and the name is the only capability needed to fetch it.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import struct
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from app.errors import ValidationError

MAX_BYTES = 5 * 1024 * 1024
MAX_WIDTH = 1600
# Far above any photo a phone takes (~50 MP) yet bounded: decoding allocates width*height*4.
MAX_PIXELS = 60_000_000

ACCEPTED = "JPEG, PNG, WebP or GIF"
NOT_AN_IMAGE = f"That file isn't a picture we can use. Please upload a {ACCEPTED} image."
TOO_LARGE = "That image is larger than 5 MB. Please choose a smaller one (or resize it first)."


class CoverTooLarge(ValidationError):
    """The picture is over MAX_BYTES: the form answers 413 (with everything typed kept)."""

    status_code = 413

    def __init__(self, size: int | None = None):
        if size is None:
            super().__init__(TOO_LARGE)
        else:
            limit, shown = _megabytes(MAX_BYTES), _megabytes(size)
            shown = f"just over {limit}" if shown == limit else shown
            super().__init__(
                f"The picture is {shown}; the limit is {limit}. "
                "Please choose a smaller one (or resize it first)."
            )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _size_of(stream: IO[bytes]) -> int | None:
    """The upload's size without reading it (Werkzeug spools it to memory or a temp file)."""
    try:
        position = stream.tell()
        size = stream.seek(0, os.SEEK_END)
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        return None
    return size - position
TOO_MANY_PIXELS = "That image has too many pixels to process. Please resize it and try again."


@dataclass(frozen=True)
class _Format:
    extension: str
    mimetype: str
    save_as: str


# Input format -> how the clean copy is stored. GIF becomes a still PNG (first frame): a lossless
# format every mail client shows, and no frame-by-frame decoding cost.
FORMATS: dict[str, _Format] = {
    "JPEG": _Format("jpg", "image/jpeg", "JPEG"),
    "PNG": _Format("png", "image/png", "PNG"),
    "WEBP": _Format("webp", "image/webp", "WEBP"),
    "GIF": _Format("png", "image/png", "PNG"),
}
MIMETYPES = {f.extension: f.mimetype for f in FORMATS.values()}
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{22}\.(jpg|png|webp)$")
_DECODE_ERRORS = (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
)


def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def is_valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name or ""))


def path_for(name: str) -> Path | None:
    """The file behind a stored name, or None for anything that is not one of ours."""
    if not is_valid_name(name):
        return None
    path = upload_dir() / name
    return path if path.is_file() else None


def mimetype_for(name: str) -> str:
    return MIMETYPES[name.rsplit(".", 1)[1]]


def _read_limited(stream: IO[bytes]) -> bytes:
    size = _size_of(stream)
    if size is not None and size > MAX_BYTES:
        raise CoverTooLarge(size)
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise CoverTooLarge()
    if not data:
        raise ValidationError("That file is empty. Please choose a picture.")
    return data


def _open(data: bytes) -> Image.Image:
    """Open restricted to our formats, turning Pillow's bomb *warning* into a refusal too."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        if image.width * image.height > MAX_PIXELS or image.width < 1 or image.height < 1:
            raise ValidationError(TOO_MANY_PIXELS)
    return image


def _decode(data: bytes) -> tuple[Image.Image, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = _open(data)
            fmt = probe.format or ""
            probe.verify()  # structure and checksums; the object is unusable afterwards
            image = _open(data)  # verify() consumed the first one
            if image.format != fmt or fmt not in FORMATS:
                raise ValidationError(NOT_AN_IMAGE)
            image.load()  # decode every pixel: truncated or corrupt data fails here
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationError(TOO_MANY_PIXELS) from None
    except ValidationError:
        raise
    except _DECODE_ERRORS:
        raise ValidationError(NOT_AN_IMAGE) from None
    return image, fmt


def _clean_copy(image: Image.Image, fmt: str) -> tuple[bytes, _Format]:
    """Upright, at most MAX_WIDTH wide, re-encoded without any metadata."""
    target = FORMATS[fmt]
    image = ImageOps.exif_transpose(image)  # keep the orientation the EXIF we drop described
    if target.save_as == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        has_alpha = "A" in image.mode or (image.mode == "P" and "transparency" in image.info)
        image = image.convert("RGBA" if has_alpha else "RGB")
    if image.width > MAX_WIDTH:
        height = max(1, round(image.height * MAX_WIDTH / image.width))
        image = image.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
    # A fresh image carries pixels only: no info dict, EXIF, ICC, XMP or comments.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    out = io.BytesIO()
    if target.save_as == "JPEG":
        clean.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif target.save_as == "WEBP":
        clean.save(out, "WEBP", quality=85, method=4)
    else:
        clean.save(out, "PNG", optimize=True)
    return out.getvalue(), target


def store_cover_image(stream: IO[bytes]) -> str:
    """Validate, clean and store an uploaded image; return its new random name.

    Raises ValidationError with a message for the person when the file is refused.
    """
    data = _read_limited(stream)
    image, fmt = _decode(data)
    try:
        payload, target = _clean_copy(image, fmt)
    except _DECODE_ERRORS:
        raise ValidationError(NOT_AN_IMAGE) from None
    finally:
        image.close()
    name = f"{secrets.token_urlsafe(16)}.{target.extension}"
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # Write then rename: a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        Path(tmp).replace(directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


# -- keeping an upload across a form re-render ---------------------------------------------------
# A file input cannot be refilled by the server, so after a validation error or a preview the
# already-stored image travels in a hidden field, signed and bound to the uploader.


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="feelgood.pending-cover")


def sign_pending(name: str, user_id: int) -> str:
    return _signer().dumps({"name": name, "uid": user_id})


def unsign_pending(token: str, user_id: int) -> str | None:
    """The stored name a hidden field refers to, if the token is genuine and the user's own."""
    if not token:
        return None
    try:
        data = _signer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("uid") != user_id:
        return None
    name = data.get("name")
    return name if isinstance(name, str) and path_for(name) else None


def prune_orphaned_uploads(referenced: set[str], *, older_than_seconds: int = 86_400) -> int:
    """Delete stored images no story uses (abandoned forms, replaced covers); returns the count.

    Only files older than `older_than_seconds` go, so a form being filled in keeps its image.
    Meant for a periodic job; `referenced` is every Story.cover_image in the database.
    """
    directory = upload_dir()
    if not directory.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in directory.iterdir():
        stale_temp = path.name.startswith(".incoming-")
        if not (stale_temp or is_valid_name(path.name)) or path.name in referenced:
            continue
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
