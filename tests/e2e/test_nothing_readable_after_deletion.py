"""After a real meeting (two participants, chat, transcript, recording, webhooks delivered to a
local receiver), no file sitin writes holds the meeting in plaintext: not before delete_data
(content is sealed at rest), not right after its 200, not after a clean shutdown. Every file under
the data directory is scanned byte for byte: the databases with their ``-wal`` and ``-shm``, the
queue, the key store, the blobs and the bots' temporary folders."""

import asyncio
from pathlib import Path

import pytest

from support.live import start_live
from support.peers import TestParticipant
from support.speech import flite_wav, read_pcm_48k
from webhooks.receiver import run_receiver

SAID = "the acquisition of northwind closes in november"
CHAT = "the password for the vault is marmalade"
# Names chosen to occur nowhere else: a hit can only be a copy of the meeting.
SPEAKER, LISTENER = "Zebulon", "Philippa"
WORDS = ("northwind", "acquisition", "november")


def plaintext_hits(data_dir: Path) -> list[str]:
    """``file: needle`` for every captured value found in any file (any case, UTF-8 or UTF-16)."""
    needles = [SPEAKER, LISTENER, CHAT, *WORDS]
    hits = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        for needle in needles:
            for encoded in (needle.lower().encode(), needle.lower().encode("utf-16-le")):
                if encoded in data:
                    hits.append(f"{path.relative_to(data_dir)}: {needle}")
    return hits


async def _meeting(live, tmp_path: Path, hook_url: str) -> str:
    speaker = TestParticipant(live.base_url, "board", SPEAKER)
    listener = TestParticipant(live.base_url, "board", LISTENER)
    await speaker.join()
    await listener.join()
    bot = await asyncio.to_thread(
        live.create_bot,
        meeting_url=live.room_url("board"),
        recording_settings={"format": "mp3"},
        webhooks=[
            {
                "url": hook_url,
                "triggers": ["bot.state_change", "transcript.update", "chat_messages.update"],
            }
        ],
    )
    await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording")
    await asyncio.sleep(1.0)
    pcm = read_pcm_48k(flite_wav(tmp_path, "said", SAID))
    speaker.say(pcm)
    await asyncio.sleep(len(pcm) / 48000 + 1.0)
    await speaker.send_chat(CHAT)

    def transcribed():
        utterances = live.http.get(f"/api/v1/bots/{bot['id']}/transcript").json()
        chat = live.http.get(f"/api/v1/bots/{bot['id']}/chat_messages").json()["results"]
        return utterances if utterances and chat else None

    await asyncio.to_thread(live.wait_until, transcribed, 90, "transcript and chat")
    await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot['id']}/leave")
    await asyncio.to_thread(live.wait_for_state, bot["id"], "ended", timeout=60)
    await speaker.leave()
    await listener.leave()
    return bot["id"]


@pytest.mark.slow
def test_no_plaintext_of_the_meeting_in_any_file_before_or_after_delete_data(tmp_path):
    data_dir = tmp_path / "data"
    with run_receiver() as receiver:
        with start_live(tmp_path, allow_insecure_webhooks=True) as live:
            bot_id = asyncio.run(_meeting(live, tmp_path, receiver.url))
            # The API and the webhooks saw the meeting in plaintext, as clients always did.
            transcript = live.http.get(f"/api/v1/bots/{bot_id}/transcript").json()
            assert any(w in transcript[0]["transcription"]["transcript"].lower() for w in WORDS)
            receiver.wait_for(
                lambda: any(d.trigger == "transcript.update" for d in receiver.deliveries)
            )
            recording = live.http.get(f"/api/v1/bots/{bot_id}/recording").json()
            assert len(live.download(recording["url"])) > 1000

            assert plaintext_hits(data_dir) == []  # sealed at rest

            deleted = live.http.post(f"/api/v1/bots/{bot_id}/delete_data")
            assert deleted.status_code == 200, deleted.text
            assert plaintext_hits(data_dir) == []
            assert live.http.get(f"/api/v1/bots/{bot_id}/transcript").json() == []
        assert plaintext_hits(data_dir) == []  # after a clean shutdown
