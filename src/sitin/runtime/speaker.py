"""The bot's voice requests (POST output_audio and speech), played into the meeting one after
another: files are decoded, text is synthesised piece by piece, both resampled to meeting audio
and handed to `play` (the runner puts them into the pipeline as AudioOut: the PlaybackStage queues
them on the adapter, which plays them without gaps). A barge-in (`interrupt`) drops the request
being spoken and those waiting. Failures become bot log entries that name what went wrong, never
the content."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np

from sitin.core.transcription_settings import ProviderAccount
from sitin.runtime.audio_out import Resampler, UnplayableAudio, decode_file
from sitin.text_to_speech.base import SpeechFailed
from sitin.text_to_speech.factory import build_engine
from sitin.text_to_speech.pico import PicoProcess

log = logging.getLogger(__name__)

Play = Callable[[np.ndarray], None]
Report = Callable[[str], Awaitable[None]]  # an error for the bot's log
Accounts = Callable[[], Awaitable[Mapping[str, ProviderAccount]]]


class BotSpeaker:
    def __init__(self, play: Play, *, accounts: Accounts, report: Report) -> None:
        self._play = play
        self._accounts = accounts
        self._report = report
        self._requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._offline = PicoProcess()  # started on the first offline speech request
        self._task: asyncio.Task[None] | None = None

    def submit(self, request: dict[str, Any]) -> None:
        """Queue one request (a row of bot_output_requests) after those already queued."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bot-speaker")
        self._requests.put_nowait(request)

    def interrupt(self) -> None:
        """Barge-in: stop the request being spoken and forget those waiting (the playback stage
        drops what was already queued)."""
        while not self._requests.empty():
            self._requests.get_nowait()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._offline.aclose()

    async def _run(self) -> None:
        while True:
            request = await self._requests.get()
            try:
                if request["kind"] == "audio":
                    await self._play_file(request["container"], request["data"])
                else:
                    await self._speak(request["text"], request["settings"] or {})
            except Exception:  # a bug here must not silence the bot for the rest of the meeting
                log.exception("output request failed")
                await self._report(f"{request['kind']} request failed unexpectedly")

    async def _play_file(self, container: str, data: bytes) -> None:
        try:
            pcm = await asyncio.to_thread(decode_file, container, data)
        except UnplayableAudio as exc:
            await self._report(f"output_audio could not be played: {exc}")
            return
        self._play(pcm)

    async def _speak(self, text: str, settings: dict[str, Any]) -> None:
        try:
            engine = build_engine(settings, await self._accounts(), offline_process=self._offline)
        except SpeechFailed as exc:
            await self._report(f"speech could not be spoken: {exc}")
            return
        resampler: Resampler | None = None
        try:
            async for piece in engine.synthesize(text):
                if resampler is None or resampler.rate_in != piece.sample_rate:
                    resampler = Resampler(piece.sample_rate)
                self._play(resampler(piece.pcm))
            if resampler is not None:
                self._play(resampler.flush())
        except SpeechFailed as exc:
            await self._report(f"speech could not be spoken ({engine.name}): {exc}")
        finally:
            await engine.aclose()
