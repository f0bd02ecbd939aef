"""Bot operations behind the API. Each runs in the transaction its caller (the route) opened and
passes in, validates, and queues follow-up work (launching, waking the running bot) with
``tx.after_commit``, so nothing is queued for a transaction that rolls back."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from sitin.config import API_KEY_ENV
from sitin.context import AppContext
from sitin.core.commands import BotCommand
from sitin.core.errors import BotNotFound, FieldErrors, RuleError
from sitin.core.meeting_urls import INVALID, MeetingUrl, Platform
from sitin.core.output_media import OutputAudio, no_video
from sitin.core.speech_settings import validate_speech_request
from sitin.core.states import JOINED, BotState, EventSubType, EventType, TransitionNotAllowed
from sitin.core.timefmt import utcnow
from sitin.core.transcription_settings import chosen_provider
from sitin.core.validation import (
    BotSpec,
    validate_chat_message,
    validate_create_bot,
    validate_patch_bot,
)
from sitin.db import bot_commands, bots, capture, credentials, meeting_data, webhook_subscriptions
from sitin.db.bot_events import record_event
from sitin.db.engine import Tx
from sitin.outbound import Purpose, RefusedTarget

DEDUP_IN_USE = (
    "Deduplication key already in use. A bot in a non-terminal state with this deduplication key "
    "already exists. Please use a different deduplication key or wait for that bot to terminate."
)


def require_bot(conn: Connection, project_id: str, bot_id: str) -> RowMapping:
    """The bot if it is in the caller's project; BotNotFound (the API's 404) otherwise."""
    bot = bots.get(conn, project_id=project_id, bot_id=bot_id)
    if bot is None:
        raise BotNotFound(bot_id)
    return bot


def _view(tx: Tx, project_id: str, bot_id: str) -> bots.BotView:
    """The bot as this transaction leaves it. Read before the commit so the answer shows the
    caller's own change, not whatever the running bot did a millisecond later."""
    view = bots.view(tx.conn, project_id=project_id, bot_id=bot_id)
    assert view is not None  # looked up (or inserted) earlier in the same transaction
    return view


def _event(tx: Tx, bot_id: str, event: EventType, sub_type=None, metadata=None) -> None:
    """Record an event; a disallowed transition becomes the API's 400 with Attendee's message."""
    try:
        record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type, metadata=metadata)
    except TransitionNotAllowed as exc:
        raise RuleError(str(exc)) from None


def validate_new_bot(ctx: AppContext, body: Any) -> BotSpec:
    """The create request validated, and what the bot will connect to checked by the outbound
    guard, before any transaction is open (a check may resolve a name)."""
    spec = validate_create_bot(body, now=utcnow())
    _check_destinations(ctx, spec.meeting, spec.webhooks, spec.settings.get("websocket_settings"))
    return spec


def create_bot(ctx: AppContext, tx: Tx, *, project_id: str, spec: BotSpec) -> bots.BotView:
    """Create the bot of a validated request (``validate_new_bot``); launched after commit."""
    scheduled = spec.join_at is not None
    # in the transaction that creates the bot: a key removed meanwhile cannot slip by
    _require_provider_key(ctx, tx.conn, project_id, spec.settings["transcription_settings"])
    try:
        bot_id = bots.insert_bot(
            tx.conn,
            project_id=project_id,
            name=spec.bot_name,
            meeting_url=spec.meeting.url,
            platform=spec.meeting.platform.value,
            state=BotState.SCHEDULED if scheduled else BotState.READY,
            join_at=spec.join_at,
            deduplication_key=spec.deduplication_key,
            metadata=spec.metadata,
            settings=spec.settings,
            data_retention_seconds=spec.data_retention_seconds,
        )
    except IntegrityError as exc:
        # the unique index is not deferred: a clash shows at the insert, not at commit
        if "deduplication_key" in str(exc.orig):
            raise RuleError(DEDUP_IN_USE) from None
        raise
    for hook in spec.webhooks:
        webhook_subscriptions.add(
            tx.conn,
            project_id=project_id,
            bot_id=bot_id,
            url=hook["url"],
            triggers=hook["triggers"],
        )
    if spec.chat_message:
        capture.add_chat_message_request(tx, bot_id=bot_id, **spec.chat_message)
    if not scheduled:
        _event(tx, bot_id, EventType.JOIN_REQUESTED, metadata={"source": "api"})
    tx.after_commit(lambda: ctx.bots.launch(bot_id))
    return _view(tx, project_id, bot_id)


def _check_destinations(
    ctx: AppContext,
    meeting: MeetingUrl,
    webhooks: list[dict],
    websocket_settings: dict[str, Any] | None = None,
) -> None:
    """The outbound guard's verdict on what the bot will connect to (again when connecting): a
    meeting server the link names (a sitin room, a Janus server) must be this server's own rooms
    or a host the operator listed."""
    if meeting.platform in (Platform.ROOM, Platform.JANUS):
        try:
            ctx.outbound.check_url(meeting.url, Purpose.MEETING)
        except RefusedTarget as exc:
            raise FieldErrors({"meeting_url": [f"{INVALID}: {exc}"]}) from None
    for hook in webhooks:
        try:
            ctx.outbound.check_url(hook["url"], Purpose.WEBHOOK)
        except RefusedTarget as exc:
            raise FieldErrors({"webhooks": [str(exc)]}) from None
    for kind, stream in (websocket_settings or {}).items():
        try:
            ctx.outbound.check_url(stream["url"], Purpose.REALTIME)
        except RefusedTarget as exc:
            raise FieldErrors({"websocket_settings": [f"{kind}.url: {exc}"]}) from None


def _require_provider_key(
    ctx: AppContext, conn: Connection, project_id: str, transcription: dict[str, Any]
) -> None:
    """Refuse a cloud provider without an API key now, rather than fail every utterance later."""
    provider = chosen_provider(transcription)
    if provider not in API_KEY_ENV or provider in ctx.settings.provider_accounts:
        return
    if provider in credentials.providers_with_keys(conn, project_id=project_id):
        return
    raise RuleError(
        f"Transcription provider {provider} needs an API key: store one with "
        f"`sitin credentials set --project <project> {provider}` or set {API_KEY_ENV[provider]} "
        "on the server."
    )


def patch_bot(ctx: AppContext, tx: Tx, *, project_id: str, bot_id: str, body: Any) -> bots.BotView:
    # looked up before validation: another project's bot is a 404 even with a bad body
    bot = require_bot(tx.conn, project_id, bot_id)
    patch = validate_patch_bot(body, now=utcnow())
    if patch.needs_scheduled_state and bot["state"] != BotState.SCHEDULED:
        raise RuleError(
            f"Bot is in state {bot['state']} but join_at, meeting_url, bot_name, bot_image and "
            "recording_settings can only be updated when in the scheduled state"
        )
    changes = patch.changes
    values: dict[str, Any] = {}
    settings = dict(bot["settings"])
    if "meeting_url" in changes:
        _check_destinations(ctx, changes["meeting_url"], [])
        values["meeting_url"] = changes["meeting_url"].url
        values["platform"] = changes["meeting_url"].platform.value
    if "bot_name" in changes:
        values["name"] = changes["bot_name"]
    if "join_at" in changes and changes["join_at"] is not None:
        values["join_at"] = changes["join_at"]
    if "metadata" in changes:
        values["metadata"] = changes["metadata"]
    if "bot_image" in changes:
        settings["bot_image"] = changes["bot_image"]
    if "recording_settings" in changes:
        settings["recording_settings"] = changes["recording_settings"]
        bots.update_recording_format(
            tx.conn, bot_id=bot_id, fmt=changes["recording_settings"]["format"]
        )
    if settings != bot["settings"]:
        values["settings"] = settings
    if values:
        bots.update_fields(tx.conn, bot_id=bot_id, **values)
    if "join_at" in changes:
        tx.after_commit(lambda: ctx.bots.launch(bot_id))
    return _view(tx, project_id, bot_id)


def delete_scheduled_bot(tx: Tx, *, project_id: str, bot_id: str) -> None:
    bot = require_bot(tx.conn, project_id, bot_id)
    if bot["state"] != BotState.SCHEDULED:
        raise RuleError(
            f"Bot is in state {bot['state']} but can only be deleted when in scheduled state"
        )
    bots.delete_bot(tx.conn, bot_id=bot_id)


def _command(ctx: AppContext, tx: Tx, bot_id: str, command: BotCommand) -> None:
    """Leave ``command`` for the running bot and wake it once the transaction commits."""
    bot_commands.add(tx.conn, bot_id=bot_id, command=command)
    tx.after_commit(lambda: ctx.bots.wake(bot_id))


def leave(ctx: AppContext, tx: Tx, *, project_id: str, bot_id: str) -> bots.BotView:
    require_bot(tx.conn, project_id, bot_id)
    _event(tx, bot_id, EventType.LEAVE_REQUESTED, EventSubType.USER_REQUESTED)
    _command(ctx, tx, bot_id, BotCommand.LEAVE)
    return _view(tx, project_id, bot_id)


PAUSE_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class RecordingChange:
    """A pause or resume asked of the running bot: the state it was in and the one it confirms
    by reaching."""

    bot_id: str
    verb: str  # "pause" or "resume"
    needed: BotState
    target: BotState


def request_recording_change(
    ctx: AppContext, tx: Tx, *, project_id: str, bot_id: str, paused: bool
) -> RecordingChange:
    """Ask the running bot to pause/resume; the caller then waits for ``recording_confirmed``
    (as Attendee, the answer is the confirmed state, within ``PAUSE_WAIT_SECONDS``)."""
    needed, target = (
        (BotState.JOINED_RECORDING, BotState.JOINED_RECORDING_PAUSED)
        if paused
        else (BotState.JOINED_RECORDING_PAUSED, BotState.JOINED_RECORDING)
    )
    verb, command = (
        ("pause", BotCommand.PAUSE_RECORDING) if paused else ("resume", BotCommand.RESUME_RECORDING)
    )
    bot = require_bot(tx.conn, project_id, bot_id)
    if bot["state"] != needed:
        raise RuleError(
            f"Bot is in state {bot['state']} and cannot {verb} recording."
            f" It must be in state {needed.value}."
        )
    _command(ctx, tx, bot_id, command)
    return RecordingChange(bot_id=bot_id, verb=verb, needed=needed, target=target)


def recording_confirmed(
    conn: Connection, *, project_id: str, change: RecordingChange
) -> bots.BotView | None:
    """The bot once it has made ``change``; None while it has not yet; RuleError if it went
    elsewhere."""
    confirmed = bots.view(conn, project_id=project_id, bot_id=change.bot_id)
    assert confirmed is not None  # bots are only removed while scheduled
    state = confirmed.row["state"]
    if state == change.target:
        return confirmed
    if state != change.needed:
        raise RuleError(
            f"Bot left state {change.needed.value} (now {state}); recording not {change.verb}d"
        )
    return None


def unconfirmed(change: RecordingChange) -> RuleError:
    return RuleError(
        f"Unable to {change.verb} recording: the bot did not confirm in time. Try again."
    )


def send_chat_message(ctx: AppContext, tx: Tx, *, project_id: str, bot_id: str, body: Any) -> None:
    bot = require_bot(tx.conn, project_id, bot_id)
    message = validate_chat_message(body)
    _require_in_meeting(bot, "send chat messages")
    if message["to_user_uuid"] is not None and (
        meeting_data.participant_by_uuid(
            tx.conn,
            bot_id=bot_id,
            key=ctx.keys.key_for_reading(bot_id),
            uuid=message["to_user_uuid"],
        )
        is None
    ):
        raise RuleError(f"No participant found with uuid {message['to_user_uuid']}")
    capture.add_chat_message_request(tx, bot_id=bot_id, **message)
    _command(ctx, tx, bot_id, BotCommand.SYNC_CHAT_MESSAGE_REQUESTS)


def _require_in_meeting(bot: RowMapping, doing: str) -> None:
    if BotState(bot["state"]) not in JOINED:
        allowed = ", ".join(sorted(s.value for s in JOINED))
        raise RuleError(
            f"Bot is in state {bot['state']} and cannot {doing}. "
            f"It must be in one of these states: {allowed}"
        )


def output_audio(
    ctx: AppContext, tx: Tx, *, project_id: str, bot_id: str, audio: OutputAudio
) -> None:
    """Queue an mp3 or wav file (validated by the caller first, as Attendee checks the body
    first) for the bot to play into the meeting."""
    _require_in_meeting(require_bot(tx.conn, project_id, bot_id), "play audio")
    capture.add_output_request(
        tx, bot_id=bot_id, kind="audio", container=audio.container, data=audio.data
    )
    _command(ctx, tx, bot_id, BotCommand.SYNC_OUTPUT_REQUESTS)


def speech(ctx: AppContext, tx: Tx, *, project_id: str, bot_id: str, body: Any) -> None:
    """Queue text for the bot to speak with the engine its settings name."""
    bot = require_bot(tx.conn, project_id, bot_id)
    try:
        request = validate_speech_request(body)
    except ValueError as exc:
        raise RuleError(str(exc)) from None
    _require_in_meeting(bot, "speak")
    capture.add_output_request(
        tx, bot_id=bot_id, kind="speech", text=request.text, settings=request.settings
    )
    _command(ctx, tx, bot_id, BotCommand.SYNC_OUTPUT_REQUESTS)


def refuse_video(conn: Connection, *, project_id: str, bot_id: str, what: str) -> None:
    require_bot(conn, project_id, bot_id)
    raise no_video(what)
