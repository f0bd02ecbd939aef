"""Any OpenAI-compatible `POST {base_url}/audio/speech` endpoint, asked for raw PCM.

OpenAI answers `response_format=pcm` as 24 kHz 16-bit mono little-endian samples; the text is
sent in sentence-sized pieces so that the bot starts speaking after the first round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np

from sitin.core.speech_settings import OpenAISpeech
from sitin.core.transcription_settings import OPENAI_DEFAULT_BASE_URL
from sitin.text_to_speech.base import SpeechEngine, SpeechFailed, SpokenAudio, pieces

SAMPLE_RATE = 24_000
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_RESPONSE_BYTES = 50 * 1024 * 1024  # about 17 minutes of 24 kHz audio per piece


class OpenAISpeechEngine(SpeechEngine):
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        settings: OpenAISpeech,
        base_url: str = OPENAI_DEFAULT_BASE_URL,
        timeout: httpx.Timeout | float = TIMEOUT,
    ) -> None:
        self.settings = settings
        self.url = f"{base_url.rstrip('/')}/audio/speech"
        self._client = httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    async def synthesize(self, text: str) -> AsyncIterator[SpokenAudio]:
        for piece in pieces(text):
            yield SpokenAudio(await self._speak(piece), SAMPLE_RATE)

    async def _speak(self, text: str) -> np.ndarray:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "voice": self.settings.voice,
            "input": text,
            "response_format": "pcm",
        }
        if self.settings.instructions:
            body["instructions"] = self.settings.instructions
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code >= 400:
                    detail = (await response.aread())[:300].decode("utf-8", "replace")
                    raise SpeechFailed(f"openai answered HTTP {response.status_code}: {detail}")
                audio = bytearray()
                async for block in response.aiter_bytes():
                    audio += block
                    if len(audio) > MAX_RESPONSE_BYTES:
                        raise SpeechFailed("openai answered with more audio than allowed")
        except httpx.HTTPError as exc:
            raise SpeechFailed(f"could not reach openai: {type(exc).__name__}") from None
        usable = len(audio) - len(audio) % 2
        return np.frombuffer(bytes(audio[:usable]), dtype="<i2").astype(np.int16)

    async def aclose(self) -> None:
        await self._client.aclose()
