"""Errors on the wire, in Attendee's shapes.

Business rules: 400 ``{"error": msg}``; field validation: 400 ``{"field": [msgs]}``; auth: 401
``{"detail": msg}`` with ``WWW-Authenticate: Token``; unknown bot: 404
``{"error": "Bot not found"}``.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sitin.api.responses import JsonResponse
from sitin.core.validation import FieldErrors, RuleError
from sitin.services.bots import BotNotFound


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

    @app.exception_handler(BotNotFound)
    async def _bot_not_found(_request: Request, _exc: BotNotFound):
        return JsonResponse({"error": "Bot not found"}, status_code=404)

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
