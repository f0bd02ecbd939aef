"""Fixtures for the Janus tests: a network namespace of the test's own with a real Janus in it.

The test's thread runs inside the namespace for the whole test, so the clients it opens (and the
threads and processes it starts) reach Janus's API on 127.0.0.1 there and nothing leaves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aioice.ice
import pytest

from sitin.testing.janus import JANUS_API_HOST, JanusServer, janus_server
from sitin.testing.netns import NetworkNamespace, gather_ice_on, network_namespace
from support.janus import JanusMeeting
from support.live import start_live


@pytest.fixture
def namespace() -> Iterator[NetworkNamespace]:
    with network_namespace() as created:
        yield created


@pytest.fixture
def janus(namespace: NetworkNamespace, tmp_path: Path) -> Iterator[JanusServer]:
    """Janus started in the namespace, with this test's thread inside the namespace too."""
    with janus_server(namespace, tmp_path / "janus") as server, namespace.entered():
        yield server


@pytest.fixture
def janus_meeting(
    janus: JanusServer, namespace: NetworkNamespace, tmp_path: Path, monkeypatch
) -> Iterator[JanusMeeting]:
    """A live sitin (API and worker, in this process) inside the namespace with Janus; its peer
    connections gather ICE on Janus's veth address only (netns.gather_ice_on)."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    gather_ice_on(namespace.server_address)  # undone by monkeypatch after the test
    with start_live(tmp_path, outbound_hosts=JANUS_API_HOST) as live:  # as an operator would
        yield JanusMeeting(namespace, janus, live)
