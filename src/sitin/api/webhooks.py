"""``/api/v1/webhooks`` (project-level subscriptions and the signing secret; additions to
Attendee, whose project-level webhooks and secret are dashboard-only) and
``/api/v1/bots/{id}/webhook_deliveries`` (delivery diagnosis)."""

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict

from sitin.api import schemas, serializers
from sitin.api.deps import Context, JsonBody, ProjectId, reject_null_characters
from sitin.api.errors import ApiError
from sitin.api.pagination import PAGE_SIZE, decode_cursor, render_page
from sitin.api.responses import JsonResponse
from sitin.core.errors import BotNotFound
from sitin.core.timefmt import to_wire
from sitin.core.triggers import WEBHOOK_TRIGGERS
from sitin.db import bots, webhook_deliveries
from sitin.db.sealing import Opener
from sitin.services import webhooks as webhook_service
from sitin.webhooks import signing

router = APIRouter(tags=["Webhooks"], dependencies=[Depends(reject_null_characters)])

Trigger = Literal[WEBHOOK_TRIGGERS]  # type: ignore[valid-type]
UNAUTHORIZED = {401: {"model": schemas.Detail, "description": "Missing or invalid API key"}}
WEBHOOK_NOT_FOUND = {404: {"model": schemas.NotFound, "description": "Webhook not found"}}
BOT_NOT_FOUND = {404: {"model": schemas.NotFound, "description": "Bot not found or invalid cursor"}}


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    triggers: list[Trigger]
    is_active: bool = True


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    triggers: list[Trigger] | None = None
    is_active: bool | None = None


class WebhookRead(BaseModel):
    id: str
    url: str
    triggers: list[Trigger]
    is_active: bool
    created_at: str


class WebhookPage(BaseModel):
    next: str | None
    previous: str | None
    results: list[WebhookRead]


class DeliveryAttempt(BaseModel):
    attempt: int
    started_at: str
    status: Literal["success", "failure"]
    response_code: int | None
    response_excerpt: str | None = None
    duration_ms: int
    error: str | None


class WebhookDelivery(BaseModel):
    idempotency_key: str
    webhook_id: str
    url: str
    trigger: Trigger
    status: Literal["pending", "success", "failure"]
    attempt_count: int
    attempts: list[DeliveryAttempt]
    next_attempt_at: str | None
    succeeded_at: str | None
    created_at: str
    payload: dict[str, Any]


class WebhookDeliveryPage(BaseModel):
    next: str | None
    previous: str | None
    results: list[WebhookDelivery]


class SigningSecret(BaseModel):
    secret: str  # base64 of 32 bytes: X-Webhook-Signature is HMAC-SHA256 with it
    previous_valid_until: list[str]  # older secrets still verifying (X-Webhook-Signature-Previous)


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_seconds: int | None = None


MAX_OVERLAP_SECONDS = 30 * 24 * 3600


@router.get(
    "/api/v1/webhooks",
    response_model=None,
    responses={200: {"model": WebhookPage}, **UNAUTHORIZED},
    summary="List the project's webhook subscriptions (25 per page, oldest first)",
)
def list_webhooks(request: Request, ctx: Context, project_id: ProjectId, cursor: str | None = None):
    position = decode_cursor(cursor)
    with ctx.db.read() as conn:
        page = webhook_service.list_subscriptions(
            conn, project_id=project_id, position=position, limit=PAGE_SIZE
        )
    return JsonResponse(render_page(request, page, serializers.webhook_subscription))


@router.post(
    "/api/v1/webhooks",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": WebhookRead},
        400: {"description": 'Invalid URL or triggers ({"field": [message]})'},
        **UNAUTHORIZED,
    },
    openapi_extra=schemas.body(WebhookCreate),
    summary="Subscribe the project to webhooks (used for bots without bot-level webhooks)",
)
def create_webhook(ctx: Context, project_id: ProjectId, body: JsonBody):
    with ctx.db.write() as tx:
        row = webhook_service.create_subscription(
            tx, ctx.outbound, project_id=project_id, body=body
        )
    return JsonResponse(serializers.webhook_subscription(row), status_code=201)


# Declared before /api/v1/webhooks/{webhook_id} so "secret" is not taken for an id.
@router.get(
    "/api/v1/webhooks/secret",
    response_model=None,
    responses={200: {"model": SigningSecret}, **UNAUTHORIZED},
    summary="The project's webhook signing secret (created on first use)",
)
def get_signing_secret(ctx: Context, project_id: ProjectId):
    with ctx.db.write() as tx:  # the first call creates the secret
        secret = signing.current_secret(tx.conn, ctx.settings, project_id=project_id)
        expiries = signing.secret_expiries(tx.conn, project_id=project_id)
    return JsonResponse(_render_secret(secret, expiries))


@router.post(
    "/api/v1/webhooks/secret/rotate",
    response_model=None,
    responses={
        200: {"model": SigningSecret},
        400: {"description": 'Invalid overlap ({"overlap_seconds": [message]})'},
        **UNAUTHORIZED,
    },
    openapi_extra=schemas.body(SecretRotation),
    summary="Make a new signing secret; the previous one keeps verifying for the overlap",
)
def rotate_signing_secret(ctx: Context, project_id: ProjectId, body: JsonBody):
    overlap = _overlap_seconds(body)
    with ctx.db.write() as tx:
        secret = signing.rotate_secret(
            tx.conn, ctx.settings, project_id=project_id, overlap_seconds=overlap
        )
        expiries = signing.secret_expiries(tx.conn, project_id=project_id)
    return JsonResponse(_render_secret(secret, expiries))


def _overlap_seconds(body: Any) -> int | None:
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError(400, {"non_field_errors": ["Expected an object (or no body)"]})
    unknown = sorted(set(body) - {"overlap_seconds"})
    if unknown:
        raise ApiError(400, {"non_field_errors": [f"Unknown field(s): {', '.join(unknown)}"]})
    overlap = body.get("overlap_seconds")
    if overlap is None:
        return None
    if isinstance(overlap, bool) or not isinstance(overlap, int):
        raise ApiError(400, {"overlap_seconds": ["A whole number of seconds is required."]})
    if not 0 <= overlap <= MAX_OVERLAP_SECONDS:
        raise ApiError(
            400,
            {"overlap_seconds": [f"Must be between 0 and {MAX_OVERLAP_SECONDS} (30 days)."]},
        )
    return overlap


def _render_secret(secret: str, expiries: list) -> dict[str, Any]:
    return {
        "secret": secret,
        "previous_valid_until": [to_wire(expiry) for expiry in expiries[1:] if expiry],
    }


@router.get(
    "/api/v1/webhooks/{webhook_id}",
    response_model=None,
    responses={200: {"model": WebhookRead}, **UNAUTHORIZED, **WEBHOOK_NOT_FOUND},
    summary="Get a webhook subscription",
)
def get_webhook(ctx: Context, project_id: ProjectId, webhook_id: str):
    with ctx.db.read() as conn:
        row = webhook_service.get_subscription(conn, project_id=project_id, webhook_id=webhook_id)
    return JsonResponse(serializers.webhook_subscription(row))


@router.patch(
    "/api/v1/webhooks/{webhook_id}",
    response_model=None,
    responses={
        200: {"model": WebhookRead},
        400: {"description": 'Invalid URL, triggers or is_active ({"field": [message]})'},
        **UNAUTHORIZED,
        **WEBHOOK_NOT_FOUND,
    },
    openapi_extra=schemas.body(WebhookUpdate),
    summary="Change a subscription's URL, triggers or is_active (inactive: no new deliveries)",
)
def update_webhook(ctx: Context, project_id: ProjectId, webhook_id: str, body: JsonBody):
    with ctx.db.write() as tx:
        row = webhook_service.update_subscription(
            tx, ctx.outbound, project_id=project_id, webhook_id=webhook_id, body=body
        )
    return JsonResponse(serializers.webhook_subscription(row))


@router.delete(
    "/api/v1/webhooks/{webhook_id}",
    response_model=None,
    responses={200: {"description": "Deleted (empty body)"}, **UNAUTHORIZED, **WEBHOOK_NOT_FOUND},
    summary="Delete a webhook subscription (its pending deliveries are cancelled)",
)
def delete_webhook(ctx: Context, project_id: ProjectId, webhook_id: str):
    with ctx.db.write() as tx:
        webhook_service.delete_subscription(tx, project_id=project_id, webhook_id=webhook_id)
    return Response(status_code=200)


@router.get(
    "/api/v1/bots/{object_id}/webhook_deliveries",
    response_model=None,
    responses={200: {"model": WebhookDeliveryPage}, **UNAUTHORIZED, **BOT_NOT_FOUND},
    summary="List a bot's webhook deliveries with every attempt (25 per page, oldest first)",
)
def list_webhook_deliveries(
    request: Request, ctx: Context, project_id: ProjectId, object_id: str, cursor: str | None = None
):
    position = decode_cursor(cursor)
    with ctx.db.read() as conn:
        if bots.get(conn, project_id=project_id, bot_id=object_id) is None:
            raise BotNotFound(object_id)
        opener = Opener(object_id, ctx.keys.key_for_reading(object_id))
        page = webhook_deliveries.bot_page(
            conn, bot_id=object_id, opener=opener, position=position, limit=PAGE_SIZE
        )
    return JsonResponse(render_page(request, page, serializers.webhook_delivery))
