"""``/blobs/<key>``: downloads from the local blob store through HMAC-signed, expiring URLs."""

from fastapi import APIRouter
from fastapi.responses import FileResponse

from sitin.api.deps import Context
from sitin.api.errors import ApiError

router = APIRouter(include_in_schema=False)


@router.get("/blobs/{key:path}")
def download(ctx: Context, key: str, expires: int = 0, signature: str = ""):
    verify = getattr(ctx.blobs, "verify", None)
    if verify is None:  # S3 hands out its own presigned URLs
        raise ApiError(404, {"error": "Not found"})
    if not verify(key, expires, signature):
        raise ApiError(403, {"error": "This download link is invalid or has expired"})
    try:
        path = ctx.blobs.open_path(key)
    except KeyError:
        raise ApiError(404, {"error": "Not found"}) from None
    return FileResponse(path, filename=key.rsplit("/", 1)[-1])
