"""Errors on the wire, in Attendee's shapes: one handler per kind of ``sitin.core.errors``.

Field validation: 400 ``{"field": [msgs]}``; business rules: 400 ``{"error": msg}``; not found
(bot, webhook, recording): 404 ``{"error": msg}``; auth: 401 ``{"detail": msg}`` with
``WWW-Authenticate: Token``; storage pending: 503 ``{"error": msg}`` with ``Retry-After``; a
body over the limit: 413 naming it (``api.limits``); the disk full under the database: 503
``{"error": msg}`` with ``Retry-After``, the transaction rolled back. Routes raise; none of them
renders an error itself.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sitin.api.responses import JsonResponse
from sitin.core.errors import FieldErrors, NotFound, RuleError, StoragePending
from sitin.db.engine import is_out_of_space

OUT_OF_SPACE_RETRY_AFTER_SECONDS = 60
OUT_OF_SPACE = (
    "The server ran out of disk space; nothing was changed. Retry once space has been freed."
)


class ApiError(Exception):
    def __init__(self, status_code: int, body: dict, headers: dict[str, str] | None = None):
        self.status_code, self.body, self.headers = status_code, body, headers


class NotAuthenticated(ApiError):
    def __init__(self, detail: str):
        super().__init__(401, {"detail": detail}, {"WWW-Authenticate": "Token"})


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return JsonResponse(exc.body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(FieldErrors)
    async def _field_errors(_request: Request, exc: FieldErrors):
        return JsonResponse(exc.errors, status_code=400)

    @app.exception_handler(RuleError)
    async def _rule_error(_request: Request, exc: RuleError):
        return JsonResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound):
        return JsonResponse({"error": exc.message}, status_code=404)

    @app.exception_handler(StoragePending)
    async def _storage_pending(_request: Request, exc: StoragePending):
        return JsonResponse(
            {"error": str(exc)},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    async def _out_of_space(_request: Request, exc: Exception):
        if not is_out_of_space(exc):
            raise exc  # a defect: the server's 500 and its log
        return JsonResponse(
            {"error": OUT_OF_SPACE},
            status_code=503,
            headers={"Retry-After": str(OUT_OF_SPACE_RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, exc: RequestValidationError):
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            loc = [str(part) for part in error["loc"] if part not in ("body", "query", "path")]
            errors.setdefault(".".join(loc) or "non_field_errors", []).append(error["msg"])
        return JsonResponse(errors, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404 and request.url.path.startswith("/api/"):
            return JsonResponse({"error": "Not found"}, status_code=404)
        return JsonResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
