"""Tiny real HTTP servers on 127.0.0.1 speaking the OpenAI and Deepgram transcription APIs.

Each records what it received; a `reply` function decides the answer (status, JSON, delay).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sitin.transcription.wav import decode_wav


@dataclass
class ReceivedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, list[str]] = field(default_factory=dict)  # multipart text fields
    # file fields: name → (filename, content type, data)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)

    def audio_samples(self) -> int:
        data = self.files["file"][2] if self.files else self.body
        return len(decode_wav(data)[0])


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict → JSON; bytes → sent as is
    delay_s: float = 0.0


ReplyFunction = Callable[[ReceivedRequest], Reply]


class FakeServer:
    def __init__(self, reply: ReplyFunction) -> None:
        self.reply = reply
        self.requests: list[ReceivedRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length", 0))
                received = _parse(self, self.rfile.read(length))
                server.requests.append(received)
                answer = server.reply(received)
                time.sleep(answer.delay_s)
                payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body)
                data = payload.encode() if isinstance(payload, str) else payload
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _parse(handler: BaseHTTPRequestHandler, body: bytes) -> ReceivedRequest:
    parts = urlsplit(handler.path)
    received = ReceivedRequest(
        method=handler.command,
        path=parts.path,
        query=parse_qsl(parts.query, keep_blank_values=True),
        headers={k.lower(): v for k, v in handler.headers.items()},
        body=body,
    )
    content_type = handler.headers.get("Content-Type", "")
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            data = part.get_payload(decode=True)
            if filename is not None:
                received.files[name] = (filename, part.get_content_type(), data)
            else:
                received.form.setdefault(name, []).append(data.decode())
    return received


def openai_verbose_json(request: ReceivedRequest) -> Reply:
    """A documented verbose_json answer whose text tells how many samples arrived."""
    samples = request.audio_samples()
    return Reply(
        body={
            "task": "transcribe",
            "language": "english",
            "duration": samples / 16_000,
            "text": f" Heard {samples} samples.",
            "words": [
                {"word": "Heard", "start": 0.0, "end": 0.4},
                {"word": f"{samples}", "start": 0.4, "end": 0.9},
                {"word": "samples", "start": 0.9, "end": 1.3},
            ],
        }
    )


def deepgram_listen(request: ReceivedRequest) -> Reply:
    samples = request.audio_samples()
    return Reply(
        body={
            "metadata": {"request_id": "req-1", "duration": samples / 16_000, "channels": 1},
            "results": {
                "channels": [
                    {
                        "detected_language": "en",
                        "alternatives": [
                            {
                                "transcript": f"heard {samples} samples",
                                "confidence": 0.97,
                                "words": [
                                    {
                                        "word": "heard",
                                        "start": 0.08,
                                        "end": 0.4,
                                        "confidence": 0.99,
                                        "punctuated_word": "Heard",
                                    },
                                    {
                                        "word": "samples",
                                        "start": 0.9,
                                        "end": 1.3,
                                        "confidence": 0.95,
                                        "punctuated_word": "samples.",
                                    },
                                ],
                            }
                        ],
                    }
                ]
            },
        }
    )
