"""Byte scans for captured content in plaintext: meeting words and names (any case, UTF-8 or
UTF-16), and the marks every plaintext audio file carries (the encoder's tag of an mp3, webm or
mp4 that PyAV wrote, a WAV header). Sealed bytes match none of them."""

import os
import re
from collections.abc import Iterable
from pathlib import Path

AUDIO_MARKS = {
    "encoder tag (Lavf)": re.compile(rb"Lavf\d+\.\d+"),
    "LAME header": re.compile(rb"LAME\d\.\d+"),
    "WAV header": re.compile(rb"RIFF.{4}WAVEfmt ", re.DOTALL),
    "mp4 file type box": re.compile(rb"ftyp(isom|mp4|M4A)"),
}


def hits_in(data: bytes, needles: Iterable[str]) -> list[str]:
    """What of ``needles`` (and which plaintext audio marks) ``data`` holds."""
    lowered = data.lower()
    found = []
    for needle in needles:
        text = needle.lower()
        if text.encode() in lowered or text.encode("utf-16-le") in lowered:
            found.append(needle)
    found.extend(name for name, mark in AUDIO_MARKS.items() if mark.search(data))
    return found


def plaintext_hits(root: Path, needles: Iterable[str]) -> list[str]:
    """``file: what`` for every needle or audio mark found in any file under ``root``. Files
    and folders that vanish while being scanned (a bot's temporary files) are skipped."""
    needles = list(needles)
    hits = []
    # os.walk, unlike Path.rglob, passes over a folder removed between listing and entering it
    files = (Path(folder, name) for folder, _, names in os.walk(root) for name in names)
    for path in sorted(files):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        hits.extend(f"{path.relative_to(root)}: {what}" for what in hits_in(data, needles))
    return hits
