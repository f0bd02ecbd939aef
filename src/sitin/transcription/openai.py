"""Any OpenAI-compatible transcription endpoint: `POST {base_url}/audio/transcriptions`.

Works with OpenAI itself and with self-hosted servers speaking the same API. Word timestamps come
from `response_format=verbose_json` with `timestamp_granularities[]=word`; OpenAI's gpt-4o*
transcribe models accept only `json`, so for them the transcript comes without words.
"""

from __future__ import annotations

from typing import Any

import httpx

from sitin.core.transcription_settings import OPENAI_DEFAULT_BASE_URL
from sitin.transcription.base import (
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.http import DEFAULT_TIMEOUT, number, post_for_json
from sitin.transcription.wav import encode_wav


class OpenAITranscriptionProvider(TranscriptionProvider):
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str = OPENAI_DEFAULT_BASE_URL,
        language: str | None = None,
        prompt: str | None = None,
        response_format: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        self.model = model
        self.url = f"{base_url.rstrip('/')}/audio/transcriptions"
        self.language = language
        self.prompt = prompt
        self.response_format = response_format or _default_response_format(model)
        self._client = httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        form: dict[str, Any] = {"model": self.model, "response_format": self.response_format}
        if self.response_format == "verbose_json":
            form["timestamp_granularities[]"] = ["word"]
        if self.language:
            form["language"] = self.language
        if self.prompt:
            form["prompt"] = self.prompt
        body = await post_for_json(
            self._client,
            self.name,
            self.url,
            read_error_message=_error_message,
            data=form,
            files={"file": ("segment.wav", encode_wav(segment.samples), "audio/wav")},
        )
        return _parse(body)

    async def aclose(self) -> None:
        await self._client.aclose()


def _default_response_format(model: str) -> str:
    return "json" if model.startswith("gpt-4o") else "verbose_json"


def _parse(body: dict[str, Any]) -> Transcription:
    text = body.get("text")
    if not isinstance(text, str):
        raise TranscriptionFailed("openai answered without a 'text' field", retryable=False)
    raw_words = body.get("words")
    if not isinstance(raw_words, list):  # some compatible servers nest words in segments
        raw_words = [
            word
            for segment in body.get("segments") or []
            if isinstance(segment, dict)
            for word in segment.get("words") or []
        ]
    words = []
    for raw in raw_words:
        if not isinstance(raw, dict) or not isinstance(raw.get("word"), str):
            continue
        word: dict[str, Any] = {
            "word": raw["word"].strip(),
            "start": number(raw.get("start")),
            "end": number(raw.get("end")),
        }
        confidence = number(raw.get("probability", raw.get("confidence")))
        if confidence is not None:
            word["confidence"] = confidence
        words.append(word)
    language = body.get("language")
    return Transcription(
        transcript=text.strip(),
        words=words,
        language=language if isinstance(language, str) and language else None,
    )


def _error_message(body: Any) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(body.get("detail"), str):  # FastAPI-based compatible servers
            return body["detail"]
    return None
