"""A real S3-compatible server for tests: ``moto_server`` on a free 127.0.0.1 port, with a bucket.

The server runs as a subprocess for the length of one test and is stopped by it. boto3 reads the
credentials and region from the environment, so ``S3Server.env`` is what a process (the test's own
or a ``sitin serve`` subprocess) needs to talk to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from support.process import free_port

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    endpoint_url: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        return dict(CREDENTIALS)

    def client(self):
        """A boto3 client on this server, for the test's own inspections."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(s3={"addressing_style": "path"}),
            **{
                "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
            },
        )

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]

    def pending_uploads(self, prefix: str = "") -> list[str]:
        listed = self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return [upload["Key"] for upload in listed.get("Uploads", [])]


@contextmanager
def moto_s3(bucket: str = "sitin-test", start_timeout_s: float = 20.0) -> Iterator[S3Server]:
    """Start moto_server, create ``bucket``, yield the server; always stop it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    server = S3Server(f"http://127.0.0.1:{port}", bucket)
    try:
        _wait_until_up(server.endpoint_url, process, start_timeout_s)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("moto_server did not start")
