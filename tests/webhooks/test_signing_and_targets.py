"""Signing secrets and rotation, and the SSRF guard: checked by a receiver verifying real
deliveries, and on the pure functions."""

import base64

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitin.api.app import create_app
from sitin.bootstrap import build_worker
from sitin.core.states import EventType
from sitin.db.tables import webhook_secrets
from sitin.outbound import OutboundGuard, Purpose, RefusedTarget
from sitin.webhooks import signing
from sitin.webhooks.envelope import canonical_json
from support.listeners import tcp_listener
from support.settings import restarted
from webhooks.helpers import advance, wait_settled
from webhooks.receiver import receiver_signature, run_receiver

STATE_CHANGE = "bot.state_change"


def test_rotation_keeps_the_old_secret_valid_for_the_overlap_only(
    ctx, client, project, new_bot, receiver, worker
):
    old = receiver.secrets[0]
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])
    first = receiver.wait_count(1)[0]
    assert first.verified_with == [old]
    assert "x-webhook-signature-previous" not in first.headers

    with ctx.db.write() as tx:
        new = signing.rotate_secret(
            tx.conn, ctx.settings, project_id=project.id, overlap_seconds=3600
        )
    receiver.secrets.append(new)
    advance(ctx, bot["id"], EventType.JOINED_MEETING)
    second = receiver.wait_count(2)[1]
    assert sorted(second.verified_with) == sorted([old, new])
    assert hmac_ok(new, second.body, second.headers["x-webhook-signature"])  # newest signs

    with ctx.db.write() as tx:  # a rotation without overlap: every older secret stops at once
        newest = signing.rotate_secret(
            tx.conn, ctx.settings, project_id=project.id, overlap_seconds=0
        )
    receiver.secrets.append(newest)
    advance(ctx, bot["id"], EventType.RECORDING_PERMISSION_GRANTED)
    third = receiver.wait_count(3)[2]
    assert third.verified_with == [newest]
    assert "x-webhook-signature-previous" not in third.headers
    wait_settled(client, project, bot["id"], 3)


def hmac_ok(secret_b64: str, body: bytes, signature: str) -> bool:
    return receiver_signature(secret_b64, body) == signature


def test_secrets_are_32_random_bytes_encrypted_at_rest(ctx, project):
    with ctx.db.write() as tx:
        secret = signing.current_secret(tx.conn, ctx.settings, project_id=project.id)
        again = signing.current_secret(tx.conn, ctx.settings, project_id=project.id)
        stored = tx.conn.execute(select(webhook_secrets.c.secret_encrypted)).scalars().all()
    assert secret == again
    assert len(base64.b64decode(secret)) == 32
    assert len(stored) == 1 and secret not in stored[0]
    assert base64.b64decode(secret) not in base64.urlsafe_b64decode(stored[0] + "==")


def test_signature_is_hmac_of_the_canonical_json():
    secret = base64.b64encode(b"k" * 32).decode()
    envelope = {"trigger": "x", "data": {"b": 1, "a": "é"}, "bot_id": None}
    assert (
        canonical_json(envelope) == '{"bot_id":null,"data":{"a":"é","b":1},"trigger":"x"}'.encode()
    )
    signature = signing.sign(base64.b64decode(secret), envelope)
    assert signing.verify(secret, envelope, signature)
    wire_body = b'{"trigger": "x", "bot_id": null, "data": {"b": 1, "a": "\\u00e9"}}'
    assert receiver_signature(secret, wire_body) == signature  # any JSON spelling verifies
    assert not signing.verify(secret, {**envelope, "trigger": "y"}, signature)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "ftp://example.com/hook",
    ],
)
def test_unsafe_targets_are_refused_by_default(url):
    guard = OutboundGuard()
    with pytest.raises(RefusedTarget):
        guard.resolve(url, Purpose.WEBHOOK)
    with pytest.raises(RefusedTarget):
        guard.check_url(url, Purpose.WEBHOOK)  # the same, at subscription time (no DNS needed)


def test_a_public_target_is_pinned_to_its_checked_address():
    guard = OutboundGuard()
    target = guard.resolve("https://93.184.216.34:8443/hook?x=1", Purpose.WEBHOOK)
    assert target.connect_url == "https://93.184.216.34:8443/hook?x=1"
    assert target.host_header == "93.184.216.34:8443"
    target = guard.resolve("https://[2606:4700::1111]/h", Purpose.WEBHOOK)
    assert target.connect_url == "https://[2606:4700::1111]/h"


def test_the_setting_allows_http_and_loopback():
    guard = OutboundGuard(allow_insecure_webhooks=True)
    target = guard.resolve("http://localhost:9000/hook", Purpose.WEBHOOK)
    assert target.connect_url.startswith("http://") and target.server_name is None
    guard.check_url("http://127.0.0.1:9000/hook", Purpose.WEBHOOK)


def test_api_refuses_insecure_urls_unless_the_setting_is_on(ctx, client, project):
    with (
        restarted(ctx, allow_insecure_webhooks=False) as strict,
        TestClient(create_app(strict)) as strict_client,
    ):
        for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://localhost/hook"):
            response = strict_client.post(
                "/api/v1/webhooks",
                json={"url": url, "triggers": [STATE_CHANGE]},
                headers=project.headers,
            )
            assert response.status_code == 400, url
            assert "SITIN_ALLOW_INSECURE_WEBHOOKS" in response.json()["url"][0]
        response = strict_client.post(
            "/api/v1/bots",
            json={
                "meeting_url": "http://127.0.0.1:8000/rooms/standup",
                "bot_name": "b",
                "webhooks": [{"url": "http://example.com/hook", "triggers": [STATE_CHANGE]}],
            },
            headers=project.headers,
        )
        assert response.status_code == 400
    response = client.post(  # the suite's context has the setting on
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "triggers": [STATE_CHANGE]},
        headers=project.headers,
    )
    assert response.status_code == 201, response.text


def test_delivery_to_a_loopback_target_is_refused_with_the_setting_off(
    ctx, client, project, new_bot, receiver
):
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])
    # turned off after subscribing (a restart with other settings): checked again at delivery
    with restarted(ctx, allow_insecure_webhooks=False) as strict:
        worker = build_worker(strict, threads=2, periodic=False)
        worker.start()
        try:
            [delivery] = wait_settled(client, project, bot["id"], 1)
        finally:
            worker.stop()
    assert delivery["status"] == "failure"
    [attempt] = delivery["attempts"]
    assert attempt["response_code"] is None
    assert "SITIN_ALLOW_INSECURE_WEBHOOKS" in attempt["error"]
    assert receiver.arrivals == []


def test_the_api_gives_and_rotates_the_secret_receivers_verify_with(
    ctx, client, project, new_bot, worker
):
    shown = client.get("/api/v1/webhooks/secret", headers=project.headers)
    assert shown.status_code == 200, shown.text
    current = shown.json()
    assert len(base64.b64decode(current["secret"])) == 32
    assert current["previous_valid_until"] == []
    assert client.get("/api/v1/webhooks/secret", headers=project.headers).json() == current

    with run_receiver() as receiver:
        receiver.secrets.append(current["secret"])
        bot = new_bot(webhooks=[{"url": receiver.url, "triggers": [STATE_CHANGE]}])
        assert receiver.wait_count(1)[0].verified_with == [current["secret"]]

        rotated = client.post(
            "/api/v1/webhooks/secret/rotate",
            json={"overlap_seconds": 3600},
            headers=project.headers,
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != current["secret"] and len(rotated.json()["previous_valid_until"]) == 1
        assert client.get("/api/v1/webhooks/secret", headers=project.headers).json() == (
            rotated.json()
        )
        receiver.secrets.append(new)
        advance(ctx, bot["id"], EventType.JOINED_MEETING)
        second = receiver.wait_count(2)[1]
        assert sorted(second.verified_with) == sorted([current["secret"], new])

        no_body = client.post("/api/v1/webhooks/secret/rotate", headers=project.headers)
        assert no_body.status_code == 200  # the server's default overlap
        assert no_body.json()["secret"] not in (new, current["secret"])
        wait_settled(client, project, bot["id"], 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"overlap_seconds": -1}, "overlap_seconds"),
        ({"overlap_seconds": 31 * 24 * 3600}, "overlap_seconds"),
        ({"overlap_seconds": "60"}, "overlap_seconds"),
        ({"overlap_seconds": True}, "overlap_seconds"),
        ({"overlap": 60}, "non_field_errors"),
        ([60], "non_field_errors"),
    ],
)
def test_rotation_refuses_a_bad_overlap_and_keeps_the_secret(client, project, body, field):
    before = client.get("/api/v1/webhooks/secret", headers=project.headers).json()
    response = client.post("/api/v1/webhooks/secret/rotate", json=body, headers=project.headers)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert client.get("/api/v1/webhooks/secret", headers=project.headers).json() == before


def test_each_project_has_its_own_secret_and_a_key_is_needed(client, project, other_project):
    mine = client.get("/api/v1/webhooks/secret", headers=project.headers).json()["secret"]
    theirs = client.get("/api/v1/webhooks/secret", headers=other_project.headers).json()
    assert theirs["secret"] != mine
    assert client.get("/api/v1/webhooks/secret").status_code == 401
    assert client.post("/api/v1/webhooks/secret/rotate").status_code == 401
    rotated = client.post("/api/v1/webhooks/secret/rotate", headers=other_project.headers)
    assert rotated.status_code == 200
    assert client.get("/api/v1/webhooks/secret", headers=project.headers).json()["secret"] == mine


def _ipv6_spellings_of_loopback(port: int) -> list[str]:
    return [
        f"https://[{address}]:{port}/hook"
        for address in (
            "::ffff:127.0.0.1",  # IPv4-mapped: the kernel connects it to 127.0.0.1
            "::7f00:1",  # IPv4-compatible
            "::ffff:0:7f00:1",  # IPv4-translated
            "64:ff9b::7f00:1",  # NAT64
            "2002:7f00:1::1",  # 6to4
            "fec0::1",  # site-local
        )
    ]


def test_ipv6_spellings_of_loopback_are_refused_and_never_contacted(ctx, client, project, new_bot):
    """Issue 11, item 7: refused at subscription and again at delivery, and a listener on
    127.0.0.1 hears nothing either time."""
    with tcp_listener() as listener:
        urls = _ipv6_spellings_of_loopback(listener.port)
        with restarted(ctx, allow_insecure_webhooks=False) as strict:
            with TestClient(create_app(strict)) as strict_client:
                for url in urls:
                    response = strict_client.post(
                        "/api/v1/webhooks",
                        json={"url": url, "triggers": [STATE_CHANGE]},
                        headers=project.headers,
                    )
                    assert response.status_code == 400, url
                    assert "non-public address" in response.json()["url"][0], url
            # subscribed while the development setting was on, delivered after it was turned off
            for url in urls:
                response = client.post(
                    "/api/v1/webhooks",
                    json={"url": url, "triggers": [STATE_CHANGE]},
                    headers=project.headers,
                )
                assert response.status_code == 201, response.text
            bot = new_bot()
            worker = build_worker(strict, threads=2, periodic=False)
            worker.start()
            try:
                deliveries = wait_settled(client, project, bot["id"], len(urls))
            finally:
                worker.stop()
        assert {d["status"] for d in deliveries} == {"failure"}
        for delivery in deliveries:
            assert "non-public address" in delivery["attempts"][-1]["error"], delivery
        assert listener.received == []
