"""A hostile room server (issue 11 item 2): participant uuids come from the meeting, so a room can
send path-like ones (``../../<another bot>``, absolute paths, ``..``). Nothing the bot writes may
land outside its own prefix, and the capture must work as with any other uuid.

The room is sitin's own room server with a registry that hands out the hostile uuids; the
participants are real aiortc peers, the bot runs through the API and the worker like any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from sitin.core.timefmt import to_wire, utcnow
from sitin.db.tables import audio_segments, utterances
from sitin.rooms.passes import RoomPasses
from sitin.rooms.registry import Participant, Role, Room, RoomRegistry
from support.live import start_live
from support.peers import TestParticipant
from support.rooms import room_app
from support.servers import serve
from support.speech import flite_wav, read_pcm_48k, word_error_rate

pytestmark = pytest.mark.slow


class HostileRoom(Room):
    """A room whose participants get the uuids the attacker chose, in the order they join."""

    uuids: Iterator[str]

    def add(self, name: str, role: Role, bot_id: str | None = None) -> Participant:
        participant = super().add(name, role, bot_id)
        if role == "bot":
            return participant
        del self.participants[participant.uuid]
        participant.uuid = next(self.uuids)
        self.participants[participant.uuid] = participant
        return participant


class HostileRegistry(RoomRegistry):
    def __init__(self, uuids: list[str], passes: RoomPasses) -> None:
        super().__init__(passes)
        self._uuids = iter(uuids)

    def join(
        self, room_name: str, name: str, role: Role, bot_id: str | None = None
    ) -> tuple[Room, Participant]:
        if room_name not in self.rooms:
            room = self.rooms[room_name] = HostileRoom(room_name)
            room.uuids = self._uuids
        return super().join(room_name, name, role, bot_id)


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def test_path_like_participant_uuids_never_leave_the_bots_prefix(tmp_path):
    app = room_app()
    with serve(app) as room_base:
        # the operator lists the hostile room's server, as for any room that is not sitin's own
        listed = f"127.0.0.1:{urlsplit(room_base).port}"
        with start_live(tmp_path, outbound_hosts=listed) as live:
            check_hostile_room(live, app, room_base, tmp_path)


def check_hostile_room(live, app: FastAPI, base_url: str, tmp_path) -> None:
    later = to_wire(utcnow() + timedelta(days=365))  # scheduled: the victim never runs here
    victim = live.create_bot(meeting_url=live.room_url("elsewhere"), join_at=later)
    victim_key = f"bots/{victim['id']}/recording.mp3"
    live.ctx.blobs.put_bytes(victim_key, b"the victim's recording")
    outside = tmp_path / "outside"
    hostile = [
        f"../../{victim['id']}",  # from bots/<bot>/audio/ into the victim's folder
        f"{outside}/../../../../../../../{outside}",  # absolute, and climbing out of the root
        "..",
    ]
    # under the secret of the bot's server (as if it shared the deployment): it knows the bot
    app.state.room_registry = HostileRegistry(hostile, live.ctx.room_passes)
    alice_says = "please schedule the project review for next tuesday"
    bob_says = "we need to finish the budget report"
    alice_pcm = read_pcm_48k(flite_wav(tmp_path, "alice", alice_says))
    bob_pcm = read_pcm_48k(flite_wav(tmp_path, "bob", bob_says))
    before = files_under(tmp_path)

    async def scenario(room_url: str, base_url: str) -> dict:
        alice = TestParticipant(base_url, "hostile", "Alice")
        bob = TestParticipant(base_url, "hostile", "Bob")
        carol = TestParticipant(base_url, "hostile", "Carol")
        for person in (alice, bob, carol):
            await person.join()
        assert [alice.uuid, bob.uuid, carol.uuid] == hostile
        bot = await asyncio.to_thread(
            live.create_bot,
            meeting_url=room_url,
            recording_settings={
                "format": "mp3",
                "record_async_transcription_audio_chunks": True,
                "record_participant_speech_start_stop_events": True,
            },
        )
        bot_id = bot["id"]
        await asyncio.to_thread(live.wait_for_state, bot_id, "joined_recording")

        def people() -> list[dict]:
            found = live.http.get(f"/api/v1/bots/{bot_id}/participants").json()["results"]
            return found if len(found) == 3 else []

        await asyncio.to_thread(live.wait_until, people, 30, "the three participants")
        await carol.send_chat("look at the agenda")
        for person, pcm in ((alice, alice_pcm), (bob, bob_pcm)):
            await person.wait_for(person.connected_to_bot)
            person.say(pcm)

            def heard(speaker: str = person.uuid) -> list[dict]:
                found = live.http.get(f"/api/v1/bots/{bot_id}/transcript").json()
                return [u for u in found if u["speaker_uuid"] == speaker]

            await asyncio.to_thread(live.wait_until, heard, 90, f"{person.name}'s utterance")
        await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/leave")
        final = await asyncio.to_thread(live.wait_for_state, bot_id, "ended")
        for person in (alice, bob, carol):
            await person.leave()
        return final

    bot = asyncio.run(scenario(f"{base_url}/rooms/hostile", base_url))
    bot_id = bot["id"]

    # Nothing outside the bot's own prefix: the victim's folder is as it was, no file appeared
    # anywhere else on disk, and every stored key is the bot's.
    blob_root = live.ctx.settings.data_dir / "blobs"
    own = blob_root / "bots" / bot_id
    new_files = files_under(tmp_path) - before
    assert new_files, "the bot stored nothing"
    database = live.ctx.settings.data_dir
    strays = [p for p in new_files if not p.is_relative_to(own) and p.parent != database]
    assert strays == []
    assert not outside.exists()
    assert [b.key for b in live.ctx.blobs.list(f"bots/{victim['id']}/")] == [victim_key]
    assert live.ctx.blobs.get_bytes(victim_key) == b"the victim's recording"
    stored = {b.key for b in live.ctx.blobs.list("bots/")}
    assert stored - {victim_key} and all(
        key.startswith(f"bots/{bot_id}/") for key in stored - {victim_key}
    )

    # The capture worked, with the meeting's uuids kept as data.
    people = live.http.get(f"/api/v1/bots/{bot_id}/participants").json()["results"]
    assert {(p["name"], p["uuid"]) for p in people} == set(
        zip(["Alice", "Bob", "Carol"], hostile, strict=True)
    )
    chat = live.http.get(f"/api/v1/bots/{bot_id}/chat_messages").json()["results"]
    assert [(m["sender_uuid"], m["text"]) for m in chat] == [("..", "look at the agenda")]
    transcript = live.http.get(f"/api/v1/bots/{bot_id}/transcript").json()
    # (how many utterances a sentence becomes is the segmenter's business, not this test's)
    assert {u["speaker_uuid"] for u in transcript} == set(hostile[:2])
    heard = {
        uuid: " ".join(
            u["transcription"]["transcript"] for u in transcript if u["speaker_uuid"] == uuid
        )
        for uuid in hostile[:2]
    }
    assert word_error_rate(alice_says, heard[hostile[0]]) <= 0.3
    assert word_error_rate(bob_says, heard[hostile[1]]) <= 0.3
    with live.ctx.db.read() as conn:
        keys = conn.execute(
            select(audio_segments.c.blob_key).where(audio_segments.c.bot_id == bot_id)
        ).scalars()
        kept = sorted(keys)
        segments = conn.execute(
            select(func.count()).select_from(utterances).where(utterances.c.bot_id == bot_id)
        ).scalar()
    # each utterance keeps its audio, also one whose words came out empty (not in the transcript)
    assert len(kept) == segments >= len(transcript)
    assert all(key in stored and ".." not in key.split("/") for key in kept)
    assert bot["recording_state"] == "complete"
    assert f"bots/{bot_id}/recording.mp3" in stored
