"""A real Janus (Debian's `janus` package) in a network namespace of its own, for tests and
benchmarks.

Janus will not gather ICE candidates on loopback alone, so it runs in a namespace with a veth
pair (netns.py): ICE on the veth's server end, its WebSocket API on 127.0.0.1 inside the
namespace. The configuration is a copy of /etc/janus with only what sitin uses switched on
(VideoRoom, TextRoom, the WebSocket transport). Rooms are created with an admin key, so nobody
else in the namespace can.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

from sitin.testing.netns import NetworkNamespace

CONFIG_SOURCE = Path("/etc/janus")
WS_PORT = 8188
JANUS_API_HOST = f"127.0.0.1:{WS_PORT}"  # the Janus API inside the namespace
VIDEOROOM = "janus.plugin.videoroom"
TEXTROOM = "janus.plugin.textroom"
ADMIN_KEY = "sitin-test-admin-key"  # required to create rooms, so no stranger can
UNUSED_PLUGINS = [
    *("sip", "nosip", "streaming", "lua", "duktape", "voicemail", "recordplay"),
    *("audiobridge", "echotest", "videocall"),
]
UNUSED_TRANSPORTS = ["http", "mqtt", "nanomsg", "rabbitmq", "pfunix"]
UNUSED_EVENT_HANDLERS = ["gelfevh", "mqttevh", "nanomsgevh", "rabbitmqevh", "sampleevh", "wsevh"]


def require_janus() -> None:
    """Fail (never skip) when Janus is not installed."""
    if shutil.which("janus") is None:
        raise RuntimeError("Janus is missing: apt-get install -y janus")


@dataclass
class JanusServer:
    namespace: NetworkNamespace
    config_dir: Path
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{WS_PORT}"

    def meeting_url(self, room: int | str, pin: str | None = None) -> str:
        url = f"{self.ws_url}/?room={room}"
        return url + (f"&pin={pin}" if pin else "")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, timeout_s: float = 20.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.namespace.command(
                "janus",
                "--configs-folder",
                str(self.config_dir),
                "--config",
                str(self.config_dir / "janus.jcfg"),
                "--disable-colors",
            ),  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while "JANUS WebSockets transport plugin initialized" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Janus did not start:\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    # ---- rooms (called from a thread inside the namespace) -------------------------------

    def create_room(
        self, room: int, *, pin: str | None = None, publishers: int = 10, textroom: bool = True
    ) -> None:
        """A VideoRoom and (unless `textroom` is False) a TextRoom with the same id (and pin)."""
        # the demo page always sends video: a low bitrate cap keeps that cheap on a loaded machine
        videoroom = {"request": "create", "room": room, "publishers": publishers,
                     "audiocodec": "opus", "bitrate": 64_000, "admin_key": ADMIN_KEY}  # fmt: skip
        chatroom = {"request": "create", "room": room, "admin_key": ADMIN_KEY}
        if pin:
            videoroom["pin"] = chatroom["pin"] = pin
        self.plugin_request(VIDEOROOM, videoroom)
        if textroom:
            self.plugin_request(TEXTROOM, {**chatroom, "textroom": "create"})

    def destroy_room(self, room: int) -> None:
        """Destroy the VideoRoom (everyone in it gets `destroyed`) and its TextRoom."""
        self.plugin_request(VIDEOROOM, {"request": "destroy", "room": room})
        self.plugin_request(TEXTROOM, {"request": "destroy", "textroom": "destroy", "room": room})

    def plugin_request(self, plugin: str, body: dict[str, Any]) -> dict[str, Any]:
        return asyncio.run(_plugin_request(self.ws_url, plugin, body))


async def _plugin_request(ws_url: str, plugin: str, body: dict[str, Any]) -> dict[str, Any]:
    """One synchronous plugin request on a session of its own (set-up, not the adapter)."""
    async with websockets.connect(ws_url, subprotocols=["janus-protocol"], proxy=None) as ws:

        async def call(message: dict[str, Any]) -> dict[str, Any]:
            message["transaction"] = uuid.uuid4().hex
            await ws.send(json.dumps(message))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("transaction") == message["transaction"] and reply["janus"] != "ack":
                    if reply["janus"] == "error":
                        raise RuntimeError(f"Janus refused {message}: {reply}")
                    return reply

        session = (await call({"janus": "create"}))["data"]["id"]
        handle = await call({"janus": "attach", "session_id": session, "plugin": plugin})
        handle_id = handle["data"]["id"]
        reply = await call(
            {"janus": "message", "session_id": session, "handle_id": handle_id, "body": body}
        )
        await call({"janus": "destroy", "session_id": session})
        data = reply["plugindata"]["data"]
        if "error" in data:
            raise RuntimeError(f"{plugin} refused {body}: {data}")
        return data


def write_config(target: Path, namespace: NetworkNamespace) -> Path:
    """A copy of Debian's Janus configuration, reduced to what sitin uses."""
    shutil.copytree(CONFIG_SOURCE, target)
    lib = next(Path("/usr/lib").glob("*/janus/plugins")).parent  # multiarch: x86_64-linux-gnu…
    disabled_plugins = ",".join(f"libjanus_{name}.so" for name in UNUSED_PLUGINS)
    disabled_transports = ",".join(f"libjanus_{name}.so" for name in UNUSED_TRANSPORTS)
    disabled_events = ",".join(f"libjanus_{name}.so" for name in UNUSED_EVENT_HANDLERS)
    (target / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{target}"
    plugins_folder = "{lib}/plugins"
    transports_folder = "{lib}/transports"
    events_folder = "{lib}/events"
    loggers_folder = "{lib}/loggers"
    debug_level = 4
    admin_secret = "{uuid.uuid4().hex}"
    session_timeout = 60
    interface = "{namespace.server_address}"
}}
media: {{
    rtp_port_range = "20000-20999"
}}
nat: {{
    ice_enforce_list = "{namespace.server_interface}"
    ignore_mdns = true
}}
plugins: {{
    disable = "{disabled_plugins}"
}}
transports: {{
    disable = "{disabled_transports}"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
    disable = "{disabled_events}"
}}
"""
    )
    (target / "janus.transport.websockets.jcfg").write_text(
        f"""general: {{
    json = "plain"
    ws = true
    ws_port = {WS_PORT}
    ws_ip = "127.0.0.1"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
"""
    )
    # No preconfigured rooms: each test or benchmark creates the rooms it needs (admin key).
    (target / "janus.plugin.videoroom.jcfg").write_text(
        f'general: {{\n    admin_key = "{ADMIN_KEY}"\n}}\n'
    )
    (target / "janus.plugin.textroom.jcfg").write_text(
        f'general: {{\n    json = "plain"\n    admin_key = "{ADMIN_KEY}"\n}}\n'
    )
    return target


@contextmanager
def janus_server(namespace: NetworkNamespace, work_dir: Path) -> Iterator[JanusServer]:
    """Janus started in `namespace`, stopped (and its files left for a failure report) after."""
    require_janus()
    work_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(work_dir / "janus-config", namespace)
    server = JanusServer(namespace, config, work_dir / "janus.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
