"""Deepgram's pre-recorded REST API: `POST {base_url}/v1/listen` with the segment as a WAV body.

`base_url` is Deepgram's own host (the EU one with `use_eu_server`) unless the operator gave the
project's account another endpoint.
"""

from __future__ import annotations

from typing import Any

import httpx

from sitin.core.transcription_settings import DeepgramSettings
from sitin.transcription.base import (
    SpeechSegment,
    Transcription,
    TranscriptionFailed,
    TranscriptionProvider,
)
from sitin.transcription.http import DEFAULT_TIMEOUT, number, post_for_json
from sitin.transcription.wav import encode_wav


class DeepgramTranscriptionProvider(TranscriptionProvider):
    name = "deepgram"

    def __init__(
        self,
        *,
        api_key: str,
        settings: DeepgramSettings | None = None,
        base_url: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        self.settings = settings or DeepgramSettings()
        self.url = f"{(base_url or self.settings.deepgram_host).rstrip('/')}/v1/listen"
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={"Authorization": f"Token {api_key}", "Content-Type": "audio/wav"},
        )

    def query_params(self) -> list[tuple[str, str]]:
        s = self.settings
        params = [
            ("model", s.model),
            ("punctuate", "true"),
            ("smart_format", _flag(s.smart_format)),
        ]
        if s.detect_language:
            params.append(("detect_language", "true"))
        elif s.language:
            params.append(("language", s.language))
        params += [("keyterm", term) for term in s.keyterms]
        params += [("keywords", word) for word in s.keywords]
        params += [("redact", kind) for kind in s.redact]
        params += [("replace", rule) for rule in s.replace]
        return params

    async def transcribe(self, segment: SpeechSegment) -> Transcription:
        body = await post_for_json(
            self._client,
            self.name,
            self.url,
            read_error_message=_error_message,
            params=self.query_params(),
            content=encode_wav(segment.samples),
        )
        return self._parse(body)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _parse(self, body: dict[str, Any]) -> Transcription:
        try:
            channel = body["results"]["channels"][0]
            alternative = channel["alternatives"][0]
            transcript = alternative["transcript"]
        except (KeyError, IndexError, TypeError) as error:
            raise TranscriptionFailed(
                "deepgram answered without results.channels[0].alternatives[0].transcript",
                retryable=False,
            ) from error
        words = [_word(raw) for raw in alternative.get("words") or [] if isinstance(raw, dict)]
        return Transcription(
            transcript=str(transcript).strip(),
            words=[word for word in words if word is not None],
            language=self._language(channel, alternative),
        )

    def _language(self, channel: dict[str, Any], alternative: dict[str, Any]) -> str | None:
        detected = channel.get("detected_language")
        if isinstance(detected, str) and detected:
            return detected
        languages = alternative.get("languages")  # language=multi answers with these
        if isinstance(languages, list) and languages and isinstance(languages[0], str):
            return languages[0]
        language = self.settings.language
        return language if language and language != "multi" else None


def _word(raw: dict[str, Any]) -> dict[str, Any] | None:
    text = raw.get("punctuated_word") or raw.get("word")
    if not isinstance(text, str):
        return None
    word: dict[str, Any] = {
        "word": text,
        "start": number(raw.get("start")),
        "end": number(raw.get("end")),
    }
    confidence = number(raw.get("confidence"))
    if confidence is not None:
        word["confidence"] = confidence
    return word


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _error_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in ("err_msg", "message", "reason", "error"):
        if isinstance(body.get(key), str) and body[key]:
            code = body.get("err_code") or body.get("category")
            return f"{code}: {body[key]}" if isinstance(code, str) and code else body[key]
    return None
