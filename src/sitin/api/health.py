"""``GET /health`` (and Attendee's ``/health/``) for load balancers: 200 when the database, the
key store and the blob store answer, 503 naming what failed. Unauthenticated, so the answer names
the failed part and the kind of error; the details go to the server's log."""

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from sitin.api.responses import JsonResponse
from sitin.context import AppContext
from sitin.db.engine import ping

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


def _probe_database(ctx: AppContext) -> None:
    with ctx.db.read() as conn:
        ping(conn)


def check(ctx: AppContext) -> dict[str, str]:
    """``{"database": "ok" | "failed: <error kind>", "key_store": ..., "blob_store": ...}``."""
    probes = {
        "database": lambda: _probe_database(ctx),
        "key_store": ctx.keys.check,  # without it no content can be written or read
        "blob_store": ctx.blobs.check,
    }
    results = {}
    for part, probe in probes.items():
        try:
            probe()
        except Exception as exc:  # whatever failed is the answer, never a 500
            log.warning("health check: the %s failed: %s", part, exc)
            results[part] = f"failed: {type(exc).__name__}"
        else:
            results[part] = "ok"
    return results


@router.get("/health")
@router.get("/health/")
async def health(request: Request) -> JsonResponse:
    results = await run_in_threadpool(check, request.app.state.ctx)
    failed = [part for part, result in results.items() if result != "ok"]
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed, **results}, 503)
    return JsonResponse({"status": "ok", **results})
