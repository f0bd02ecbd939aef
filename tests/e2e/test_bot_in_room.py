"""A bot created through the API joins a local room with two aiortc participants, records,
transcribes, captures participants and chat, obeys leave — end to end through the worker."""

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from support.peers import TestParticipant
from support.speech import decode_mono, flite_wav, read_pcm_48k, word_error_rate

ALICE_SAYS = "please schedule the project review for next tuesday"
BOB_SAYS = "we need to finish the budget report before the end of the month"


def _turns(transcript: list[dict]) -> list[tuple[str, str, int]]:
    """(speaker, text, start ms) per turn: consecutive utterances of one speaker joined.

    Where a sentence is cut into utterances depends on pauses in the audio as it arrived; a
    participant process starved of CPU (a loaded machine) pauses for real, and the sentence then
    comes as two utterances. What a user relies on is each speaker's words, in order, under the
    right name.
    """
    turns: list[tuple[str, str, int]] = []
    for utterance in transcript:
        text = utterance["transcription"]["transcript"]
        if turns and turns[-1][0] == utterance["speaker_name"]:
            speaker, joined, start = turns[-1]
            turns[-1] = (speaker, f"{joined} {text}", start)
        else:
            turns.append((utterance["speaker_name"], text, utterance["timestamp_ms"]))
    return turns


async def _meeting(live, tmp_path: Path) -> dict:
    room = "standup"
    alice = TestParticipant(live.base_url, room, "Alice")
    bob = TestParticipant(live.base_url, room, "Bob")
    await alice.join()
    await bob.join()
    bot = await asyncio.to_thread(
        live.create_bot,
        meeting_url=live.room_url(room),
        recording_settings={"format": "mp3", "record_participant_speech_start_stop_events": True},
    )
    await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording")
    await alice.wait_for(alice.connected_to_bot)
    await bob.wait_for(bob.connected_to_bot)
    alice_pcm = read_pcm_48k(flite_wav(tmp_path, "alice", ALICE_SAYS))
    bob_pcm = read_pcm_48k(flite_wav(tmp_path, "bob", BOB_SAYS))
    # each sentence then a second of silence (the pause that ends a turn), played in full
    for person, pcm in ((alice, alice_pcm), (bob, bob_pcm)):
        person.say(np.concatenate([pcm, np.zeros(48_000, dtype=pcm.dtype)]))
        await person.wait_for(person.microphone.played_everything, timeout_s=len(pcm) / 48000 + 30)
    await alice.send_chat("agenda is in the doc")
    response = await asyncio.to_thread(
        live.http.post,
        f"/api/v1/bots/{bot['id']}/send_chat_message",
        json={"message": "Notetaker is recording"},
    )
    assert response.status_code == 200, response.text
    await alice.wait_for(lambda: any(m["text"] == "Notetaker is recording" for m in alice.chat))

    def transcript_ready():
        utterances = live.http.get(f"/api/v1/bots/{bot['id']}/transcript").json()
        speakers = {u["speaker_name"] for u in utterances}
        return utterances if speakers == {"Alice", "Bob"} else None

    transcript = await asyncio.to_thread(live.wait_until, transcript_ready, 60, "transcript")
    left = await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot['id']}/leave")
    assert left.json()["state"] == "leaving"
    final = await asyncio.to_thread(live.wait_for_state, bot["id"], "ended")
    await alice.leave()
    await bob.leave()
    return {
        "bot": final,
        "alice": alice,
        "bob": bob,
        "transcript": transcript,
        "spoken_s": (len(alice_pcm) + len(bob_pcm)) / 48000,
    }


@pytest.mark.slow
def test_bot_joins_records_transcribes_and_leaves(live_backends, tmp_path):
    live = live_backends
    started = time.time()
    result = asyncio.run(_meeting(live, tmp_path))
    bot, alice, bob = result["bot"], result["alice"], result["bob"]
    bot_id = bot["id"]

    assert [e["type"] for e in bot["events"]] == [
        "join_requested",
        "joined_meeting",
        "recording_permission_granted",
        "leave_requested",
        "left_meeting",
        "post_processing_completed",
    ]
    assert bot["events"][3]["sub_type"] == "user_requested"
    assert bot["recording_state"] == "complete"
    assert bot["transcription_state"] == "complete"

    people = live.http.get(f"/api/v1/bots/{bot_id}/participants").json()["results"]
    by_name = {p["name"]: p for p in people}
    assert set(by_name) == {"Alice", "Bob"}
    assert by_name["Alice"]["uuid"] == alice.uuid and by_name["Alice"]["is_host"] is True
    assert by_name["Bob"]["uuid"] == bob.uuid and by_name["Bob"]["is_host"] is False

    events = live.http.get(f"/api/v1/bots/{bot_id}/participant_events").json()["results"]
    joins = [e for e in events if e["event_type"] == "join"]
    assert {e["participant_name"] for e in joins} == {"Alice", "Bob"}
    for event in joins:
        assert started * 1000 - 60_000 < event["timestamp_ms"] < time.time() * 1000
    speaking = {e["participant_name"] for e in events if e["event_type"] == "speech_start"}
    assert speaking == {"Alice", "Bob"}

    chat = live.http.get(f"/api/v1/bots/{bot_id}/chat_messages").json()["results"]
    assert [(m["sender_name"], m["text"]) for m in chat] == [("Alice", "agenda is in the doc")]
    assert chat[0]["sender_uuid"] == alice.uuid

    transcript = live.http.get(f"/api/v1/bots/{bot_id}/transcript").json()
    turns = _turns(transcript)
    assert [speaker for speaker, _, _ in turns] == ["Alice", "Bob"]
    assert word_error_rate(ALICE_SAYS, turns[0][1]) <= 0.3
    assert word_error_rate(BOB_SAYS, turns[1][1]) <= 0.3
    assert turns[0][2] < turns[1][2]

    recording = live.http.get(f"/api/v1/bots/{bot_id}/recording").json()
    audio, rate = decode_mono(live.download(recording["url"]))
    duration = len(audio) / rate
    assert duration >= result["spoken_s"]
    assert np.sqrt(np.mean(audio**2)) > 0.001  # people spoke: not silence
