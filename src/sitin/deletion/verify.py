"""Proof of deletion: what, if anything, remains of a data-deleted bot; orphaned blob prefixes and
data keys that disagree with what the database says."""

from dataclasses import dataclass

from sitin.context import AppContext
from sitin.core.states import BotState
from sitin.datadir import bot_work_dir
from sitin.db import bots, data_deletion, deletion_journal
from sitin.db.capture import blob_prefix
from sitin.encryption.keystore import DESTROYED, LIVE

BOTS_PARENT = "bots/"


class NotDataDeleted(ValueError):
    pass


def remaining_data(ctx: AppContext, bot_id: str) -> list[str]:
    """Human-readable lines naming every row and blob of the bot that should be gone."""
    remains: list[str] = []
    with ctx.db.read() as conn:
        state = bots.current_state(conn, bot_id=bot_id)
        if state is None:
            raise LookupError(f"no bot {bot_id}")
        if state != BotState.DATA_DELETED:
            # A database restored from a backup taken before the deletion brings back the bot's
            # old state and rows; its destroyed key says it was deleted.
            if ctx.keys.status([bot_id]).get(bot_id) != DESTROYED:
                raise NotDataDeleted(f"bot {bot_id} is in state {state.value}, not data_deleted")
            remains.append(
                f"the database says state {state.value} but its data key is destroyed (restored "
                "from a backup taken before delete_data?); call delete_data again to purge it"
            )
        remains.extend(data_deletion.remaining_rows(conn, bot_id))
        journaled = deletion_journal.has_entry(conn, bot_id=bot_id)
    waiting = [name for name, args in ctx.queue.queued() if bot_id in args]
    if waiting:
        remains.append(f"{len(waiting)} queued task(s) still name the bot: {sorted(set(waiting))}")
    if ctx.keys.status([bot_id]).get(bot_id) == LIVE:
        remains.append("its data key still exists (its content can still be decrypted)")
    blobs = list(ctx.blobs.list(blob_prefix(bot_id)))
    remains.extend(f"blob {blob.key} ({blob.size} bytes)" for blob in blobs)
    # Only complete, current blobs are listed; if none are, anything still there is an unfinished
    # upload or an old version (a versioned bucket).
    if not blobs and not ctx.blobs.is_empty(blob_prefix(bot_id)):
        remains.append(f"unfinished upload(s) or old object version(s) under {blob_prefix(bot_id)}")
    work_dir = bot_work_dir(ctx.settings.data_dir, bot_id)
    if work_dir.is_dir() and any(work_dir.iterdir()):
        remains.append(f"temporary files of the bot remain in {work_dir}")
    # An entry alone is bookkeeping: the answer is sent once the key is gone and the prefix is
    # verified empty, and the entry is cleared just after (or by the journal job after a crash).
    if journaled and remains:
        remains.append("deletion of its data key or blobs still pending in the journal")
    return remains


@dataclass(frozen=True)
class AuditFinding:
    prefix: str  # bots/<bot_id>/
    reason: str  # "no bot", "data_deleted", "data key of ...", "no data key ..."


def audit_storage(ctx: AppContext) -> list[AuditFinding]:
    """Blob prefixes under bots/ that belong to no bot or to a data-deleted bot, or whose bot has
    no live data key (unreadable); live data keys of bots that are gone or data-deleted."""
    prefixes = list(ctx.blobs.top_level_prefixes(BOTS_PARENT))
    bot_ids = [p[len(BOTS_PARENT) :].rstrip("/") for p in prefixes]
    keys = ctx.keys.status()
    live_keys = [bot_id for bot_id, status in keys.items() if status == LIVE]
    states = _states(ctx, [*bot_ids, *live_keys])
    findings = []
    for prefix, bot_id in zip(prefixes, bot_ids, strict=True):
        if bot_id not in states:
            findings.append(AuditFinding(prefix, "no bot"))
        elif states[bot_id] == BotState.DATA_DELETED:
            findings.append(AuditFinding(prefix, "data_deleted"))
        elif keys.get(bot_id) != LIVE:
            findings.append(AuditFinding(prefix, "no data key: its files cannot be read"))
    for bot_id in sorted(live_keys):
        state = states.get(bot_id)
        if state is None:
            findings.append(AuditFinding(f"{BOTS_PARENT}{bot_id}/", "data key of no bot"))
        elif state == BotState.DATA_DELETED:
            findings.append(
                AuditFinding(f"{BOTS_PARENT}{bot_id}/", "data key of a data_deleted bot")
            )
    return findings


def _states(ctx: AppContext, bot_ids: list[str]) -> dict[str, str]:
    states: dict[str, str] = {}
    unique = sorted(set(bot_ids))
    with ctx.db.read() as conn:
        for start in range(0, len(unique), 500):
            states.update(bots.states_of(conn, unique[start : start + 500]))
    return states
