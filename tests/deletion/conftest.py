"""Fixtures shared by the deletion tests."""

from collections.abc import Iterator

import pytest

from support.moto import CREDENTIALS, S3Server, moto_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A moto_server on 127.0.0.1 for this module's tests, with boto3's credentials in the
    environment (inherited by ``sitin serve`` subprocesses)."""
    with pytest.MonkeyPatch.context() as env, moto_s3() as server:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        yield server
