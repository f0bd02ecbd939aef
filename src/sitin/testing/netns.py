"""A private network namespace for a test or benchmark: loopback up and a veth pair whose two ends
both live inside it, so WebRTC peers have a non-loopback address to meet on while nothing leaves
the namespace. Needs root (CI runs as root) and `ip` (iproute2).

`entered()` moves the calling thread into the namespace (and back): sockets it opens, threads it
starts and processes it spawns afterwards are inside; the rest of the test process is not.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aioice.ice

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class NetworkNamespace:
    name: str
    server_interface: str  # the veth end a server (Janus) gathers ICE candidates on
    server_address: str
    client_interface: str  # the other end, for the clients (the bot, browsers)
    client_address: str

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    @contextmanager
    def entered(self) -> Iterator[None]:
        """Run the calling thread inside the namespace for the block."""
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(original)
        finally:
            os.close(target)
            os.close(original)


def require_tools() -> None:
    """Fail (never skip) when this machine cannot make namespaces."""
    if shutil.which("ip") is None:
        raise RuntimeError("`ip` (iproute2) is missing: scripts/services.sh installs it")
    if os.geteuid() != 0:
        raise RuntimeError("network namespaces need root (CI runs as root)")


@contextmanager
def network_namespace(subnet: str = "10.77.0") -> Iterator[NetworkNamespace]:
    """Create a namespace with `lo` and a veth pair (<subnet>.1 / <subnet>.2); remove it after."""
    require_tools()
    namespace = NetworkNamespace(
        name=f"sitin-test-{uuid.uuid4().hex[:10]}",
        server_interface="vjanus",
        server_address=f"{subnet}.1",
        client_interface="vclient",
        client_address=f"{subnet}.2",
    )
    _ip("netns", "add", namespace.name)
    try:
        inside = ("-n", namespace.name)
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "link", "add", namespace.server_interface, "type", "veth", "peer", "name",
            namespace.client_interface)  # fmt: skip
        for interface, address in (
            (namespace.server_interface, namespace.server_address),
            (namespace.client_interface, namespace.client_address),
        ):
            _ip(*inside, "addr", "add", f"{address}/24", "dev", interface)
            _ip(*inside, "link", "set", interface, "up")
        yield namespace
    finally:
        subprocess.run(["ip", "netns", "delete", namespace.name], capture_output=True)


def gather_ice_on(address: str) -> None:
    """Make every aiortc peer connection in this process offer `address` only (the namespace's
    server end). Offering both ends of the pair, aiortc's checks from the other end went
    unanswered: a property of this two-ended network (no real host has it), so sitin itself
    never does this."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address] if use_ipv4 else []
