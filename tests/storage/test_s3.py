"""delete_data against the S3 blob store: boto3 talking to a real ``moto_server`` on 127.0.0.1.

Covers unfinished multipart uploads, recording downloads (streamed decrypted by sitin, with
ranges), and a store that is down:
503 with Retry-After while the bot stays fenced, then completion by a repeat call or by the
journal's periodic job once the store answers again.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sitin.api.app import create_app
from sitin.bootstrap import build_context
from sitin.context import AppContext
from sitin.db.capture import blob_prefix
from sitin.db.tables import CAPTURED_TABLES, bots, deletion_journal
from sitin.deletion.journal import process_journal
from sitin.deletion.verify import audit_storage, remaining_data
from support.captured import ended_bot_with_data
from support.moto import S3Server
from support.process import free_port
from support.projects import Project, create_project
from support.settings import ROOM_URL, make_settings


@pytest.fixture
def store_prefix() -> str:
    """A key prefix of this test's own in the shared bucket (``s3://bucket/<prefix>``)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def s3_context(tmp_path: Path, database_url: str, s3: S3Server, prefix: str, endpoint: str):
    settings = make_settings(
        tmp_path,
        database_url,
        storage_url=f"s3://{s3.bucket}/{prefix}",
        s3_endpoint_url=endpoint,
    )
    return build_context(settings, migrate=False)


@pytest.fixture
def s3_ctx(tmp_path, database_url, s3, store_prefix) -> Iterator[AppContext]:
    context = s3_context(tmp_path, database_url, s3, store_prefix, s3.endpoint_url)
    yield context
    context.close()


@pytest.fixture
def unreachable_ctx(tmp_path, database_url, s3, store_prefix) -> Iterator[AppContext]:
    """The same database and bucket, but the S3 endpoint is a port nothing listens on."""
    dead = f"http://127.0.0.1:{free_port()}"
    context = s3_context(tmp_path, database_url, s3, store_prefix, dead)
    yield context
    context.close()


@pytest.fixture
def api(s3_ctx) -> Iterator[TestClient]:
    with TestClient(create_app(s3_ctx)) as client:
        yield client


@pytest.fixture
def project(s3_ctx) -> Project:
    return create_project(s3_ctx, "acme")


def new_ended_bot(
    ctx: AppContext, api: TestClient, project: Project, *, deliveries: bool = True, **capture
) -> str:
    """An ended bot with rows and blobs; ``deliveries`` adds webhook attempts (one bot per test)."""
    created = api.post(
        "/api/v1/bots", json={"meeting_url": ROOM_URL, "bot_name": "N"}, headers=project.headers
    )
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    ended_bot_with_data(ctx, bot_id, project_id=project.id if deliveries else None, **capture)
    return bot_id


def start_unfinished_upload(s3: S3Server, key: str) -> None:
    client = s3.client()
    upload = client.create_multipart_upload(Bucket=s3.bucket, Key=key)
    client.upload_part(
        Bucket=s3.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024
    )


def captured_rows(ctx: AppContext, bot_id: str) -> int:
    with ctx.db.read() as conn:
        return sum(
            conn.execute(
                select(func.count()).select_from(t).where(t.c.bot_id == bot_id)
            ).scalar_one()
            for t in CAPTURED_TABLES
        )


def journaled(ctx: AppContext, bot_id: str) -> bool:
    with ctx.db.read() as conn:
        found = conn.execute(
            select(deletion_journal.c.bot_id).where(deletion_journal.c.bot_id == bot_id)
        ).first()
    return found is not None


def delete_data(client: TestClient, project: Project, bot_id: str):
    return client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers)


def test_delete_data_removes_every_object_and_unfinished_upload_under_the_bot_prefix(
    s3, s3_ctx, api, project, store_prefix
):
    bot_id = new_ended_bot(s3_ctx, api, project, blobs=12)
    other_id = new_ended_bot(s3_ctx, api, project, blobs=2, deliveries=False)
    bot_keys = f"{store_prefix}/{blob_prefix(bot_id)}"
    start_unfinished_upload(s3, f"{bot_keys}recording-final.mp4")
    start_unfinished_upload(s3, f"{store_prefix}/{blob_prefix(other_id)}recording-final.mp4")
    assert len(s3.keys(bot_keys)) == 13 and s3.pending_uploads(bot_keys)

    recording = api.get(f"/api/v1/bots/{bot_id}/recording", headers=project.headers)
    assert recording.status_code == 200, recording.text
    url = recording.json()["url"]
    assert url.startswith("http://127.0.0.1:8000/blobs/")  # through sitin: S3 holds ciphertext
    download = api.get(url)
    assert download.status_code == 200
    assert download.content == b"ID3" + b"r" * 100
    stored = s3_ctx.blobs.backend.get_bytes(f"{blob_prefix(bot_id)}recording.mp3")
    assert b"r" * 20 not in stored
    part = api.get(url, headers={"Range": "bytes=3-12"})
    assert part.status_code == 206 and part.content == b"r" * 10

    response = delete_data(api, project, bot_id)

    assert response.status_code == 200, response.text
    assert response.json()["state"] == "data_deleted"
    assert s3.keys(bot_keys) == []
    assert s3.pending_uploads(bot_keys) == []
    assert remaining_data(s3_ctx, bot_id) == []
    assert api.get(url).status_code == 404  # the old link reads nothing
    # the other bot's objects and its unfinished upload are untouched
    other_keys = f"{store_prefix}/{blob_prefix(other_id)}"
    assert len(s3.keys(other_keys)) == 3
    assert s3.pending_uploads(other_keys) == [f"{other_keys}recording-final.mp4"]


def test_a_store_outage_answers_503_with_the_bot_fenced_and_a_repeat_call_finishes(
    s3, s3_ctx, unreachable_ctx, api, project, store_prefix
):
    bot_id = new_ended_bot(s3_ctx, api, project, blobs=4)
    bot_keys = f"{store_prefix}/{blob_prefix(bot_id)}"
    start_unfinished_upload(s3, f"{bot_keys}late.mp4")

    with TestClient(create_app(unreachable_ctx)) as down:
        response = delete_data(down, project, bot_id)
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        message = response.json()["error"]
        assert "fenced" in message and "will complete" in message
        again = delete_data(down, project, bot_id)
        assert again.status_code == 503  # still down: never a 200 before the blobs are gone

    bot = api.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json()
    assert bot["state"] == "data_deleted"
    assert [e["type"] for e in bot["events"]].count("data_deleted") == 1
    assert captured_rows(s3_ctx, bot_id) == 0
    assert journaled(s3_ctx, bot_id)
    assert len(s3.keys(bot_keys)) == 5  # nothing was removed while the store was unreachable

    finished = delete_data(api, project, bot_id)

    assert finished.status_code == 200, finished.text
    assert finished.json()["events"] == bot["events"]
    assert s3.keys(bot_keys) == [] and s3.pending_uploads(bot_keys) == []
    assert not journaled(s3_ctx, bot_id)
    assert remaining_data(s3_ctx, bot_id) == []


def test_the_journal_job_finishes_a_deletion_the_store_refused(
    s3, s3_ctx, unreachable_ctx, api, project, store_prefix
):
    bot_id = new_ended_bot(s3_ctx, api, project, blobs=3)
    bot_keys = f"{store_prefix}/{blob_prefix(bot_id)}"
    with TestClient(create_app(unreachable_ctx)) as down:
        assert delete_data(down, project, bot_id).status_code == 503
    assert process_journal(unreachable_ctx) == 1  # still down: stays pending
    assert journaled(s3_ctx, bot_id) and s3.keys(bot_keys)

    assert process_journal(s3_ctx) == 0

    assert s3.keys(bot_keys) == []
    assert not journaled(s3_ctx, bot_id)
    with s3_ctx.db.read() as conn:
        state = conn.execute(select(bots.c.state).where(bots.c.id == bot_id)).scalar_one()
    assert state == "data_deleted"
    assert remaining_data(s3_ctx, bot_id) == []


def test_storage_audit_on_s3_finds_orphans_including_unfinished_uploads(
    s3, s3_ctx, api, project, store_prefix
):
    deleted_id = new_ended_bot(s3_ctx, api, project, blobs=1)
    live_id = new_ended_bot(s3_ctx, api, project, blobs=1, deliveries=False)
    assert delete_data(api, project, deleted_id).status_code == 200
    assert audit_storage(s3_ctx) == []

    # Objects that reached the bucket behind sitin's back (a late upload sealed before the key was
    # destroyed, a stray object): what the audit must find.
    s3_ctx.blobs.backend.put_bytes(f"{blob_prefix(deleted_id)}late.bin", b"late")
    s3_ctx.blobs.backend.put_bytes("bots/bot_orphanobject00000/a.bin", b"orphan")
    start_unfinished_upload(s3, f"{store_prefix}/bots/bot_orphanupload00000/rec.mp4")
    start_unfinished_upload(s3, f"{store_prefix}/{blob_prefix(live_id)}rec.mp4")

    findings = {(f.prefix, f.reason) for f in audit_storage(s3_ctx)}

    assert findings == {
        (blob_prefix(deleted_id), "data_deleted"),
        ("bots/bot_orphanobject00000/", "no bot"),
        ("bots/bot_orphanupload00000/", "no bot"),
    }


def test_a_versioned_bucket_keeps_no_version_of_a_deleted_bot(s3, tmp_path, database_url):
    """With versioning on, deleting an object only hides it behind a delete marker; delete_data
    removes every version (and marker) under the prefix, and verify checks for them."""
    bucket = f"versioned-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    versioned = S3Server(s3.endpoint_url, bucket)
    ctx = s3_context(tmp_path, database_url, versioned, "v", s3.endpoint_url)
    try:
        with TestClient(create_app(ctx)) as api:
            project = create_project(ctx, "acme")
            bot_id = new_ended_bot(ctx, api, project, blobs=3, deliveries=False)
            prefix = f"v/{blob_prefix(bot_id)}"
            key = f"{blob_prefix(bot_id)}recording.mp3"
            ctx.blobs.put_bytes(key, b"ID3 a second take")  # an overwrite: two versions
            versions = client.list_object_versions(Bucket=bucket, Prefix=prefix)
            assert len(versions["Versions"]) == 5

            response = delete_data(api, project, bot_id)

            assert response.status_code == 200, response.text
            left = client.list_object_versions(Bucket=bucket, Prefix=prefix)
            assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []
            assert remaining_data(ctx, bot_id) == []

            # A version that survives (restored, or written behind sitin's back) is reported.
            client.put_object(Bucket=bucket, Key=f"{prefix}stray.bin", Body=b"x")
            client.delete_object(Bucket=bucket, Key=f"{prefix}stray.bin")  # only a marker on top
            assert versioned.keys(prefix) == []
            assert any("old object version" in line for line in remaining_data(ctx, bot_id))
    finally:
        ctx.close()
