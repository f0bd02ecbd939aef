"""A small voice-agent server for tests: a WebSocket server on 127.0.0.1 speaking Attendee's
realtime-audio protocol. It keeps every message a bot sends (decoded), can answer with audio
(`realtime_audio.bot_output`), barge in, send anything at all, and drop the connection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve


@dataclass
class Chunk:
    """One audio message received from the bot."""

    trigger: str
    bot_id: str
    pcm: np.ndarray  # int16 mono at sample_rate
    sample_rate: int
    timestamp_ms: int
    sequence: int
    arrived: float  # epoch s
    participant_uuid: str | None = None
    participant_name: str | None = None
    connection: int = 0


@dataclass
class VoiceAgent:
    server: Server | None = None
    chunks: list[Chunk] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    malformed: list[Any] = field(default_factory=list)  # what the bot sent that is not protocol

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/agent?token=secret-token"

    async def start(self) -> VoiceAgent:
        self.server = await serve(self._serve, "127.0.0.1", 0, max_size=2**24)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def __aenter__(self) -> VoiceAgent:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ---- what the bot sent -----------------------------------------------------------------

    def stream(self, trigger: str, participant_uuid: str | None = None) -> list[Chunk]:
        return [
            c
            for c in self.chunks
            if c.trigger == trigger
            and (participant_uuid is None or c.participant_uuid == participant_uuid)
        ]

    def audio(self, trigger: str, participant_uuid: str | None = None, since_s: float = 0.0):
        chunks = [c for c in self.stream(trigger, participant_uuid) if c.arrived >= since_s]
        return np.concatenate([c.pcm for c in chunks]) if chunks else np.zeros(0, np.int16)

    def summary(self) -> str:
        """What arrived so far, for a failing test's message."""
        counts: dict[tuple[str, str | None], int] = {}
        for c in self.chunks:
            key = (c.trigger, c.participant_name)
            counts[key] = counts.get(key, 0) + 1
        return f"{len(self.connections)} connections, chunks {counts}"

    async def wait_for(self, condition, timeout_s: float = 15.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.01)

    # ---- answering -------------------------------------------------------------------------

    @property
    def current(self) -> ServerConnection:
        return self.connections[-1]

    async def say(self, pcm: np.ndarray, sample_rate: int, chunk_s: float = 0.02) -> None:
        """Send `pcm` as bot_output chunks of `chunk_s`, all at once (the bot paces them)."""
        step = int(sample_rate * chunk_s)
        for i in range(0, len(pcm), step):
            await self.send_raw(bot_output(pcm[i : i + step], sample_rate))

    async def barge_in(self) -> None:
        await self.send_raw(json.dumps({"trigger": "realtime_audio.clear_bot_output"}))

    async def send_raw(self, message: str | bytes) -> None:
        await self.current.send(message)

    async def drop(self) -> None:
        """Close the current connection from the server side."""
        await self.current.close(code=1011, reason="agent restarting")

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        number = len(self.connections)
        with contextlib.suppress(Exception):
            async for raw in ws:
                self._keep(raw, number)

    def _keep(self, raw: str | bytes, connection: int) -> None:
        arrived = time.time()
        try:
            message = json.loads(raw)
            data = message["data"]
            self.chunks.append(
                Chunk(
                    trigger=message["trigger"],
                    bot_id=message["bot_id"],
                    pcm=np.frombuffer(base64.b64decode(data["chunk"]), dtype="<i2"),
                    sample_rate=data["sample_rate"],
                    timestamp_ms=data["timestamp_ms"],
                    sequence=data["sequence"],
                    arrived=arrived,
                    participant_uuid=data.get("participant_uuid"),
                    participant_name=data.get("participant_name"),
                    connection=connection,
                )
            )
        except (ValueError, KeyError, TypeError):
            self.malformed.append(raw)


def bot_output(pcm: np.ndarray, sample_rate: int) -> str:
    chunk = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
    return json.dumps(
        {
            "trigger": "realtime_audio.bot_output",
            "data": {"chunk": chunk, "sample_rate": sample_rate},
        }
    )
