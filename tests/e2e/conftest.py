import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from support.live import Live, start_live
from support.moto import moto_s3
from support.pg_cluster import Cluster, ClusterUnavailable, throwaway_cluster

REDIS_URL = os.environ.get("SITIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = bool(os.environ.get("SITIN_TEST_REQUIRE_SERVICES") or os.environ.get("CI"))


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with start_live(tmp_path) as running:
        yield running


def redis_available() -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        message = f"Redis is not available ({exc}); start it with scripts/services.sh"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Cluster]:
    """A PostgreSQL cluster of the test's own (its files hold nothing another test wrote)."""
    try:
        with throwaway_cluster(tmp_path) as cluster:
            yield cluster
    except ClusterUnavailable as exc:
        message = f"PostgreSQL is not installed ({exc}); scripts/services.sh installs it"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(params=["sqlite-queue+local-blobs", "redis-queue+s3-blobs"])
def live_backends(request, tmp_path: Path, monkeypatch) -> Iterator[Live]:
    """A live sitin on the embedded queue and blob folder, or on Redis and S3 (moto_server)."""
    if request.param.startswith("sqlite"):
        with start_live(tmp_path) as running:
            yield running
        return
    redis_available()
    with ExitStack() as stack:
        s3 = stack.enter_context(moto_s3())
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        running = stack.enter_context(
            start_live(
                tmp_path,
                queue_url=REDIS_URL,
                queue_name=f"sitin-test-{uuid.uuid4().hex[:8]}",
                storage_url=f"s3://{s3.bucket}/e2e",
                s3_endpoint_url=s3.endpoint_url,
            )
        )
        yield running
