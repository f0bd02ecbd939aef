"""Headless system Chromium as a meeting participant, with a WAV file as its microphone."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium"


async def launch(playwright: Playwright, microphone: Path, *extra_args: str) -> Browser:
    """One browser per person: the fake microphone file is a browser-wide flag. Loopback peer
    connections are allowed (the tests' rooms are on 127.0.0.1)."""
    return await playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}",
            "--allow-loopback-in-peer-connection",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            *extra_args,
        ],
    )
