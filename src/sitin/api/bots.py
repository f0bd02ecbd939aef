"""``/api/v1/bots…``: every route of Attendee's Bots API. Each handler parses, opens the
transaction (``ctx.db.write()`` / ``ctx.db.read()``), calls one service or query function with it,
and returns."""

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sitin.api import schemas, serializers
from sitin.api.deps import (
    Context,
    JsonBody,
    ProjectId,
    hot_read,
    project_of_key,
    reject_null_characters,
)
from sitin.api.direct import DirectRoute
from sitin.api.errors import ApiError
from sitin.api.pagination import PAGE_SIZE, decode_cursor, render_page
from sitin.api.responses import JsonResponse
from sitin.context import AppContext
from sitin.core.errors import BotNotFound, NotFound
from sitin.core.output_media import validate_output_audio
from sitin.core.states import BOT_STATES
from sitin.core.timefmt import parse_wire
from sitin.db import bots, meeting_data
from sitin.db.api_keys import hash_key
from sitin.db.bots import BotFilters
from sitin.db.pagination import Page, Position
from sitin.db.sealing import KeySource
from sitin.deletion import purge
from sitin.services import bots as bot_service
from sitin.services import shredded
from sitin.services.bots import require_bot

router = APIRouter(
    prefix="/api/v1/bots", tags=["Bots"], dependencies=[Depends(reject_null_characters)]
)

NOT_FOUND = {404: {"model": schemas.NotFound, "description": "Bot not found"}}
BAD_REQUEST = {400: {"model": schemas.BadRequest, "description": "Invalid input or state"}}
UNAUTHORIZED = {401: {"model": schemas.Detail, "description": "Missing or invalid API key"}}
COMMON = {**UNAUTHORIZED, **NOT_FOUND}


def direct_get(path: str, **options: Any):
    """``@router.get`` for the hottest reads: a ``DirectRoute``, in its place among the rest."""

    def register(endpoint):
        router.add_api_route(
            path, endpoint, methods=["GET"], route_class_override=DirectRoute, **options
        )
        return endpoint

    return register


def _datetime_param(
    name: str, value: str | None, *, business_error: bool = True
) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_wire(value)
    except ValueError:
        message = f"Invalid {name} format. Use ISO 8601 format (e.g., 2024-01-18T12:34:56Z)"
        raise ApiError(400, {"error": message} if business_error else {name: [message]}) from None


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={201: {"model": schemas.BotRead}, **BAD_REQUEST, **UNAUTHORIZED},
    openapi_extra=schemas.body(schemas.BotCreate),
    summary="Create a bot",
)
def create_bot(ctx: Context, project_id: ProjectId, body: JsonBody):
    spec = bot_service.validate_new_bot(ctx, body)
    with ctx.db.write() as tx:
        created = bot_service.create_bot(ctx, tx, project_id=project_id, spec=spec)
    return JsonResponse(serializers.bot(created.row, created.events), status_code=201)


@direct_get(
    "",
    response_model=None,
    responses={200: {"model": schemas.BotPage}, **BAD_REQUEST, **UNAUTHORIZED},
    summary="List bots (25 per page, oldest first)",
)
async def list_bots(
    request: Request,
    cursor: str | None = None,
    meeting_url: str | None = None,
    deduplication_key: str | None = None,
    states: list[str] = Query(default=[]),
    join_at_after: str | None = None,
    join_at_before: str | None = None,
):
    ctx, reads, key = hot_read(request)
    valid = [s.value for s in BOT_STATES]
    for state in states:
        if state not in valid:
            raise ApiError(
                400, {"error": f"Invalid state: {state}. Valid states are: {', '.join(valid)}"}
            )
    filters = BotFilters(
        meeting_url=meeting_url,
        deduplication_key=deduplication_key,
        states=tuple(states),
        join_at_after=_datetime_param("join_at_after", join_at_after),
        join_at_before=_datetime_param("join_at_before", join_at_before),
    )
    position = decode_cursor(cursor)
    page, results = await reads.run(_bots_page, ctx, key, filters, position)
    return JsonResponse(render_page(request, page, None, results))


def _bots_page(ctx: AppContext, key: str, filters: BotFilters, position: Position | None):
    with ctx.db.read() as conn:  # one transaction for the key check and the page
        page = bots.list_page_for_key(
            conn, key_hash=hash_key(key), filters=filters, position=position, limit=PAGE_SIZE
        )
        if not page.rows:
            project_of_key(conn, key)  # 401 for a bad key, else the page is empty
        events = bots.events_for(conn, [row["id"] for row in page.rows])
    destroyed = shredded.destroyed_keys(ctx, page.rows)
    seen = [
        shredded.as_seen(bots.BotView(row, events[row["id"]]), destroyed.get(row["id"]))
        for row in page.rows
    ]
    return page, [serializers.bot(view.row, view.events) for view in seen]


@direct_get(
    "/{object_id}",
    response_model=None,
    responses={200: {"model": schemas.BotRead}, **COMMON},
    summary="Get a bot",
)
async def get_bot(request: Request, object_id: str):
    ctx, reads, key = hot_read(request)
    return JsonResponse(await reads.run(_get_bot_body, ctx, key, object_id))


def _get_bot_body(ctx, key: str, bot_id: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = bots.view_for_key(conn, key_hash=hash_key(key), bot_id=bot_id)
        if found is None:
            project_of_key(conn, key)  # 401 for a bad key, else the bot is not found
            raise BotNotFound(bot_id)
    destroyed = shredded.destroyed_keys(ctx, [found.row]).get(bot_id)
    seen = shredded.as_seen(found, destroyed)
    return serializers.bot(seen.row, seen.events)


@router.patch(
    "/{object_id}",
    response_model=None,
    responses={200: {"model": schemas.BotRead}, **BAD_REQUEST, **COMMON},
    openapi_extra=schemas.body(schemas.BotPatch),
    summary="Update a bot (all fields while scheduled; metadata at any time)",
)
def patch_bot(ctx: Context, project_id: ProjectId, object_id: str, body: JsonBody):
    with ctx.db.write() as tx:
        patched = bot_service.patch_bot(ctx, tx, project_id=project_id, bot_id=object_id, body=body)
    return JsonResponse(serializers.bot(patched.row, patched.events))


@router.delete(
    "/{object_id}",
    response_model=None,
    response_class=Response,  # an empty 200: no JSON content in the schema
    responses={200: {"description": "Deleted (empty body)"}, **BAD_REQUEST, **COMMON},
    summary="Delete a scheduled bot",
)
def delete_bot(ctx: Context, project_id: ProjectId, object_id: str):
    with ctx.db.write() as tx:
        bot_service.delete_scheduled_bot(tx, project_id=project_id, bot_id=object_id)
    return Response(status_code=200)


@router.post(
    "/{object_id}/leave",
    response_model=None,
    responses={200: {"model": schemas.BotRead}, **BAD_REQUEST, **COMMON},
    summary="Make the bot leave the meeting",
)
def leave(ctx: Context, project_id: ProjectId, object_id: str):
    with ctx.db.write() as tx:
        leaving = bot_service.leave(ctx, tx, project_id=project_id, bot_id=object_id)
    return JsonResponse(serializers.bot(leaving.row, leaving.events))


@direct_get(
    "/{object_id}/transcript",
    response_model=None,
    responses={200: {"model": list[schemas.Utterance]}, **BAD_REQUEST, **COMMON},
    summary="The transcript, in time order",
)
async def transcript(request: Request, object_id: str, updated_after: str | None = None):
    ctx, reads, key = hot_read(request)
    after = _datetime_param("updated_after", updated_after)
    return JsonResponse(await reads.run(_transcript, ctx, key, object_id, after))


def _transcript(ctx: AppContext, key: str, bot_id: str, after: datetime | None) -> list[dict]:
    with ctx.db.read() as conn:
        bot, speakers = meeting_data.bot_and_speakers_for_key(
            conn, key_hash=hash_key(key), bot_id=bot_id
        )
        if bot is None:
            project_of_key(conn, key)  # 401 for a bad key, else the bot is not found
            raise BotNotFound(bot_id)
        if bot.recording_id is None:
            raise NotFound("No recording found for bot", bot_id)
        data_key = ctx.keys.key_for_reading(bot_id)
        if data_key is None and shredded.is_shredded(ctx, {"id": bot_id, "state": bot.state}):
            return []
        rows = meeting_data.transcript(
            conn,
            bot_id=bot_id,
            key=data_key or _looked_up_again(ctx, bot_id),
            updated_after=after,
            sealed_speakers=speakers,
        )
    return [serializers.utterance(row) for row in rows]


def _looked_up_again(ctx: AppContext, bot_id: str) -> KeySource:
    """For a bot found with no data key just before its rows are read: the rows may include its
    first ones, committed meanwhile under a key made for them, so the key is looked up again
    once they are read (asked before them, those rows would read as empty)."""
    return lambda: ctx.keys.key_for_reading(bot_id)


RECORDING_URL_SECONDS = 1800
NOTHING = Page([], None, None)  # what a bot whose key is destroyed shows on every list


@router.get(
    "/{object_id}/recording",
    response_model=None,
    responses={200: {"model": schemas.RecordingRead}, **COMMON},
    summary="A download URL for the recording (valid 30 minutes)",
)
def recording(ctx: Context, project_id: ProjectId, object_id: str):
    with ctx.db.read() as conn:
        bot = require_bot(conn, project_id, object_id)
        row = meeting_data.recording(conn, bot_id=object_id)
    if row is None:
        raise NotFound("No recording found for bot", object_id)
    if row["blob_key"] is None or (
        ctx.keys.key_for_reading(object_id) is None and shredded.is_shredded(ctx, bot)
    ):
        raise NotFound("No recording file found for bot", object_id)
    url = ctx.blobs.download_url(row["blob_key"], expires_in=RECORDING_URL_SECONDS)
    return JsonResponse({"url": url, "start_timestamp_ms": row["first_buffer_timestamp_ms"]})


@router.get(
    "/{object_id}/participants",
    response_model=None,
    responses={200: {"model": schemas.ParticipantPage}, **BAD_REQUEST, **COMMON},
    summary="Participants seen by the bot",
)
def participants(
    request: Request,
    ctx: Context,
    project_id: ProjectId,
    object_id: str,
    cursor: str | None = None,
    is_host: str | None = None,
    id: str | None = None,  # noqa: A002 - Attendee's query parameter name
):
    if is_host not in (None, "true", "false"):
        raise ApiError(400, {"error": "Invalid is_host value. Use true or false."})
    position = decode_cursor(cursor)
    with ctx.db.read() as conn:
        bot = require_bot(conn, project_id, object_id)
        data_key = ctx.keys.key_for_reading(object_id)
        if data_key is None and shredded.is_shredded(ctx, bot):
            return JsonResponse(render_page(request, NOTHING, serializers.participant))
        page = meeting_data.participants_page(
            conn,
            bot_id=object_id,
            key=data_key or _looked_up_again(ctx, object_id),
            is_host=None if is_host is None else is_host == "true",
            participant_id=id,
            position=position,
            limit=PAGE_SIZE,
        )
    return JsonResponse(render_page(request, page, serializers.participant))


@router.get(
    "/{object_id}/participant_events",
    response_model=None,
    responses={200: {"model": schemas.ParticipantEventPage}, **BAD_REQUEST, **COMMON},
    summary="Join, leave and speech events of participants",
)
def participant_events(
    request: Request,
    ctx: Context,
    project_id: ProjectId,
    object_id: str,
    cursor: str | None = None,
    after: str | None = None,
    before: str | None = None,
):
    after_dt = _datetime_param("after", after)
    before_dt = _datetime_param("before", before)
    position = decode_cursor(cursor)
    with ctx.db.read() as conn:
        bot = require_bot(conn, project_id, object_id)
        data_key = ctx.keys.key_for_reading(object_id)
        if data_key is None and shredded.is_shredded(ctx, bot):
            return JsonResponse(render_page(request, NOTHING, serializers.participant_event))
        page = meeting_data.participant_events_page(
            conn,
            bot_id=object_id,
            key=data_key or _looked_up_again(ctx, object_id),
            after=after_dt,
            before=before_dt,
            position=position,
            limit=PAGE_SIZE,
        )
    return JsonResponse(render_page(request, page, serializers.participant_event))


@router.get(
    "/{object_id}/chat_messages",
    response_model=None,
    responses={200: {"model": schemas.ChatMessagePage}, **BAD_REQUEST, **COMMON},
    summary="Chat messages seen by the bot",
)
def chat_messages(
    request: Request,
    ctx: Context,
    project_id: ProjectId,
    object_id: str,
    cursor: str | None = None,
    updated_after: str | None = None,
):
    after = _datetime_param("updated_after", updated_after)
    position = decode_cursor(cursor)
    with ctx.db.read() as conn:
        bot = require_bot(conn, project_id, object_id)
        data_key = ctx.keys.key_for_reading(object_id)
        if data_key is None and shredded.is_shredded(ctx, bot):
            return JsonResponse(render_page(request, NOTHING, serializers.chat_message))
        page = meeting_data.chat_messages_page(
            conn,
            bot_id=object_id,
            key=data_key or _looked_up_again(ctx, object_id),
            created_after=after,
            position=position,
            limit=PAGE_SIZE,
        )
    return JsonResponse(render_page(request, page, serializers.chat_message))


@router.post(
    "/{object_id}/send_chat_message",
    response_model=None,
    response_class=Response,  # an empty 200: no JSON content in the schema
    responses={200: {"description": "Queued for the bot (empty body)"}, **BAD_REQUEST, **COMMON},
    openapi_extra=schemas.body(schemas.ChatMessageSend),
    summary="Send a chat message from the bot",
)
def send_chat_message(ctx: Context, project_id: ProjectId, object_id: str, body: JsonBody):
    with ctx.db.write() as tx:
        bot_service.send_chat_message(ctx, tx, project_id=project_id, bot_id=object_id, body=body)
    return Response(status_code=200)


@router.post(
    "/{object_id}/pause_recording",
    response_model=None,
    responses={200: {"model": schemas.BotRead}, **BAD_REQUEST, **COMMON},
    summary="Pause the recording",
)
def pause_recording(ctx: Context, project_id: ProjectId, object_id: str):
    return _change_recording(ctx, project_id, object_id, paused=True)


@router.post(
    "/{object_id}/resume_recording",
    response_model=None,
    responses={200: {"model": schemas.BotRead}, **BAD_REQUEST, **COMMON},
    summary="Resume a paused recording",
)
def resume_recording(ctx: Context, project_id: ProjectId, object_id: str):
    return _change_recording(ctx, project_id, object_id, paused=False)


def _change_recording(ctx: AppContext, project_id: str, bot_id: str, *, paused: bool):
    """Ask the running bot, then wait briefly for it to confirm (as Attendee): each look is a
    read of its own, so the bot's change is seen as soon as it commits."""
    with ctx.db.write() as tx:
        change = bot_service.request_recording_change(
            ctx, tx, project_id=project_id, bot_id=bot_id, paused=paused
        )
    deadline = time.monotonic() + bot_service.PAUSE_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)
        with ctx.db.read() as conn:
            confirmed = bot_service.recording_confirmed(conn, project_id=project_id, change=change)
        if confirmed is not None:
            return JsonResponse(serializers.bot(confirmed.row, confirmed.events))
    raise bot_service.unconfirmed(change)


@router.post(
    "/{object_id}/delete_data",
    response_model=None,
    responses={
        200: {"model": schemas.BotRead, "description": "Everything captured is verifiably gone"},
        **BAD_REQUEST,
        **COMMON,
        503: {
            "model": schemas.Error,
            "description": (
                "Fenced and rows deleted; destroying the data key or removing the files is "
                "pending (Retry-After)"
            ),
        },
    },
    summary="Permanently delete everything the bot captured (idempotent)",
)
async def delete_data(request: Request, object_id: str):
    # async with one trip to the thread pool for the key check and the deletion together; the
    # body is never read (Attendee's takes none), so nothing is read before the key is checked
    ctx, _reads, key = hot_read(request)
    return await run_in_threadpool(_delete_data, ctx, key, object_id)


def _delete_data(ctx: AppContext, key: str, bot_id: str) -> JsonResponse:
    with ctx.db.read() as conn:  # a read: a bad key never takes the write lock
        project_id = project_of_key(conn, key)
    outcome = purge.delete_bot_data(ctx, bot_id=bot_id, project_id=project_id, close=False)
    return JsonResponse(
        serializers.bot(outcome.bot.row, outcome.bot.events),
        # the key is gone and the prefix verified empty: clear the journal once the answer is sent
        background=BackgroundTask(purge.close_deletion, ctx, bot_id),
    )


@router.post(
    "/{object_id}/output_audio",
    response_model=None,
    response_class=Response,
    responses={200: {"description": "Queued for the bot (empty body)"}, **BAD_REQUEST, **COMMON},
    openapi_extra=schemas.body(schemas.OutputAudio),
    summary="Play an mp3 or wav file into the meeting",
)
def output_audio(ctx: Context, project_id: ProjectId, object_id: str, body: JsonBody):
    audio = validate_output_audio(body)  # the body first, as Attendee
    with ctx.db.write() as tx:
        bot_service.output_audio(ctx, tx, project_id=project_id, bot_id=object_id, audio=audio)
    return Response(status_code=200)


@router.post(
    "/{object_id}/speech",
    response_model=None,
    response_class=Response,
    responses={200: {"description": "Queued for the bot (empty body)"}, **BAD_REQUEST, **COMMON},
    openapi_extra=schemas.body(schemas.Speech),
    summary="Speak text into the meeting",
)
def speech(ctx: Context, project_id: ProjectId, object_id: str, body: JsonBody):
    with ctx.db.write() as tx:
        bot_service.speech(ctx, tx, project_id=project_id, bot_id=object_id, body=body)
    return Response(status_code=200)


@router.post(
    "/{object_id}/output_image",
    response_model=None,
    responses={**BAD_REQUEST, **COMMON},
    summary="Show an image: always 400, rooms carry no video",
)
def output_image(ctx: Context, project_id: ProjectId, object_id: str):
    with ctx.db.read() as conn:
        bot_service.refuse_video(conn, project_id=project_id, bot_id=object_id, what="an image")


@router.post(
    "/{object_id}/output_video",
    response_model=None,
    responses={**BAD_REQUEST, **COMMON},
    summary="Play a video: always 400, rooms carry no video",
)
def output_video(ctx: Context, project_id: ProjectId, object_id: str):
    with ctx.db.read() as conn:
        bot_service.refuse_video(conn, project_id=project_id, bot_id=object_id, what="a video")
