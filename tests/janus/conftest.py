"""Fixtures for the Janus tests: a network namespace of the test's own with a real Janus in it.

The test's thread runs inside the namespace for the whole test, so the clients it opens (and the
threads and processes it starts) reach Janus's API on 127.0.0.1 there and nothing leaves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.janus import JanusServer, janus_server
from support.netns import NetworkNamespace, network_namespace


@pytest.fixture
def namespace() -> Iterator[NetworkNamespace]:
    with network_namespace() as created:
        yield created


@pytest.fixture
def janus(namespace: NetworkNamespace, tmp_path: Path) -> Iterator[JanusServer]:
    """Janus started in the namespace, with this test's thread inside the namespace too."""
    with janus_server(namespace, tmp_path / "janus") as server, namespace.entered():
        yield server
