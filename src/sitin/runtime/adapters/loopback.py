"""Make aiortc reach WebRTC peers over 127.0.0.1 (local rooms, tests).

aioice never offers the loopback address, and browsers offer every interface they have. When a
room is served on the loopback interface we therefore (1) make aioice gather only 127.0.0.1 and
(2) drop the remote candidates that are not 127.0.0.1, so that every connectivity check goes over
loopback. This is the only place in the service that patches aioice (sitin.testing.netns does
it too, for tests and benchmarks in a network namespace).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import aioice.ice

LOOPBACK_ADDRESS = "127.0.0.1"


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is localhost or a loopback IP address."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def use_loopback_ice() -> None:
    """Make every aiortc peer connection in this process gather 127.0.0.1 only.

    Process-wide and idempotent: call it only in a process that talks to a loopback room.
    """
    aioice.ice.get_host_addresses = _loopback_host_addresses


def keep_loopback_candidates(sdp: str) -> str:
    """Return the SDP without `a=candidate` lines whose address is not 127.0.0.1."""
    kept = [line for line in sdp.splitlines() if _is_wanted_line(line)]
    return "\r\n".join(kept) + "\r\n"


def is_loopback_candidate(candidate_sdp: str) -> bool:
    """True for a candidate line (with or without the `a=`/`candidate:` prefix) on 127.0.0.1."""
    parts = candidate_sdp.split()
    return len(parts) > 4 and parts[4] == LOOPBACK_ADDRESS


def _is_wanted_line(line: str) -> bool:
    return not line.startswith("a=candidate:") or is_loopback_candidate(line)


def _loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK_ADDRESS] if use_ipv4 else []
