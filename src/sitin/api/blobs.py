"""``/blobs/<key>``: downloads through HMAC-signed, expiring links, decrypted as they stream.

Blobs are sealed at rest in every store (local or S3), so a recording link always points here; a
plain GET works, and a ``Range: bytes=…`` request (a player seeking) gets a 206 with that part.
"""

import logging
import mimetypes
import re

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from sitin.api.deps import Context
from sitin.api.errors import ApiError
from sitin.encryption import ContentUnreadable

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single ``bytes=`` range; None for no (or a multi-part) range, which is
    answered with the whole blob. Raises ValueError for a range outside the blob (a 416)."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        raise ValueError("range starts past the end")
    return start, end


@router.get("/blobs/{key:path}")
def download(request: Request, ctx: Context, key: str, expires: int = 0, signature: str = ""):
    if not ctx.blobs.links.verify(key, expires, signature):
        raise ApiError(403, {"error": "This download link is invalid or has expired"})
    try:
        whole = ctx.blobs.open(key, 0, 0)  # the size, and the key and header checked
        try:
            span = parse_range(request.headers.get("range"), whole.size)
        except ValueError:
            raise ApiError(
                416,
                {"error": f"Requested range not satisfiable; the file has {whole.size} bytes"},
                {"Content-Range": f"bytes */{whole.size}"},
            ) from None
        start, end = span or (0, whole.size)
        opened = ctx.blobs.open(key, start, end) if end > start else whole
    except ContentUnreadable as exc:  # before ValueError, its base
        log.error("download of %s refused: %s", key, exc)
        raise ApiError(
            404, {"error": "This file can no longer be read (its data was deleted or damaged)"}
        ) from None
    except (KeyError, ValueError):  # no such blob; a key outside bots/<id>/
        raise ApiError(404, {"error": "Not found"}) from None
    filename = key.rsplit("/", 1)[-1]
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{whole.size}"
    media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return StreamingResponse(
        opened.chunks, status_code=status, headers=headers, media_type=media_type
    )
