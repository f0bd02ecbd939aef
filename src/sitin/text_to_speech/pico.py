"""The offline engine: SVOX Pico (Apache-2.0, from the PyPI package py-nanotts), six languages.

Pico holds the GIL while it synthesises (about 15 ms per word here), which would stall the bot's
event loop and the audio it paces; so it runs in a child process, one piece of text at a time.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from sitin.core.speech_settings import OfflineSpeech
from sitin.text_to_speech.base import SpeechEngine, SpeechFailed, SpokenAudio, pieces

SAMPLE_RATE = 16_000  # Pico speaks 16 kHz mono 16-bit


def _speak(text: str, language: str, speed: float) -> bytes:
    """Runs in the child process."""
    from py_nanotts import NanoTTS

    return NanoTTS().speak(text, voice=language, speed=speed)


def _warm_up() -> None:
    import py_nanotts  # noqa: F401


class PicoProcess:
    """The child process Pico runs in, started on first use; shared by a bot's requests."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, function, /, *args):
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
        except BrokenProcessPool:
            self._pool = None
            raise SpeechFailed("the offline speech process stopped unexpectedly") from None

    async def warm_up(self) -> None:
        """Start the child process now, so the first request does not wait for it."""
        await self.run(_warm_up)

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)


class PicoSpeechEngine(SpeechEngine):
    name = "offline"

    def __init__(self, process: PicoProcess, settings: OfflineSpeech | None = None) -> None:
        self.process = process
        self.settings = settings or OfflineSpeech()

    async def synthesize(self, text: str) -> AsyncIterator[SpokenAudio]:
        for piece in pieces(text):
            try:
                pcm = await self.process.run(
                    _speak, piece, self.settings.language, self.settings.speed
                )
            except SpeechFailed:
                raise
            except Exception as exc:
                raise SpeechFailed(f"offline speech failed ({type(exc).__name__})") from None
            yield SpokenAudio(np.frombuffer(pcm, dtype="<i2").astype(np.int16), SAMPLE_RATE)
