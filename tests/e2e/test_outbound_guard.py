"""The bot is never turned against its host (issue 11, item 1): a meeting_url that is neither this
server's own rooms nor a host the operator listed in SITIN_OUTBOUND_HOSTS is refused when the bot
is created, and again when the bot connects, so no port on this machine hears from a bot it was not
meant to. Real listeners on 127.0.0.1 witness every connection."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from sitin.api.app import create_app
from support.bot_logs import log_messages
from support.listeners import tcp_listener
from support.live import start_live
from support.settings import restarted


def _next_year() -> str:
    return (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_meeting_urls_to_other_local_ports_are_refused_at_creation(live):
    with tcp_listener() as listener:
        port = listener.port
        forms = [
            f"http://127.0.0.1:{port}/rooms/probe",
            f"http://localhost:{port}/rooms/probe",
            f"http://[::1]:{port}/rooms/probe",
            f"http://2130706433:{port}/rooms/probe",  # 127.0.0.1 as one number
            f"http://127.1:{port}/rooms/probe",
            f"http://[::ffff:127.0.0.1]:{port}/rooms/probe",
            "http://169.254.169.254/rooms/probe",
        ]
        for url in forms:
            response = live.http.post("/api/v1/bots", json={"bot_name": "N", "meeting_url": url})
            assert response.status_code == 400, (url, response.text)
            [message] = response.json()["meeting_url"]
            assert "SITIN_OUTBOUND_HOSTS" in message, message
        # nor by changing a scheduled bot's meeting_url afterwards
        bot = live.create_bot(meeting_url=live.room_url("own"), join_at=_next_year())
        response = live.http.patch(f"/api/v1/bots/{bot['id']}", json={"meeting_url": forms[0]})
        assert response.status_code == 400, response.text
        assert "SITIN_OUTBOUND_HOSTS" in response.json()["meeting_url"][0]
        assert live.bot(bot["id"])["meeting_url"].endswith("/rooms/own")
        assert [b["id"] for b in live.http.get("/api/v1/bots").json()["results"]] == [bot["id"]]
        assert listener.received == []


def test_the_meeting_server_is_checked_again_when_the_bot_connects(tmp_path):
    """A listed host gets the bot's connection; one listed when the bot was created but no longer
    when it connects (the operator narrowed the list) hears nothing, and the bot's log says why
    without anything the remote could have answered."""
    with tcp_listener() as listed, tcp_listener() as delisted:
        with start_live(tmp_path, outbound_hosts=f"127.0.0.1:{listed.port}") as live:
            allowed = live.create_bot(meeting_url=f"http://127.0.0.1:{listed.port}/rooms/a")
            assert listed.arrived.wait(30), "the listed meeting server was never contacted"
            assert b"GET /rooms/a" in listed.received[0]  # the bot's WebSocket upgrade
            live.wait_for_state(allowed["id"], "fatal_error")

            with (
                restarted(live.ctx, outbound_hosts=f"127.0.0.1:{delisted.port}") as before,
                TestClient(create_app(before)) as earlier_api,
            ):
                response = earlier_api.post(
                    "/api/v1/bots",
                    json={
                        "bot_name": "N",
                        "meeting_url": f"http://127.0.0.1:{delisted.port}/rooms/b",
                    },
                    headers=dict(live.http.headers),
                )
                assert response.status_code == 201, response.text
                bot_id = response.json()["id"]
            live.ctx.bots.launch(bot_id)  # runs under today's settings, without that host
            failed = live.wait_for_state(bot_id, "fatal_error")
            assert failed["events"][-1]["sub_type"] == "unable_to_connect_to_meeting"
            [message] = log_messages(live.ctx, bot_id)
            assert "SITIN_OUTBOUND_HOSTS" in message, message
            assert "HTTP" not in message and "Error" not in message, message
        assert delisted.received == []


def test_a_janus_server_not_listed_is_a_400_not_a_500(live):
    response = live.http.post(
        "/api/v1/bots", json={"bot_name": "N", "meeting_url": "ws://127.0.0.1:8188/janus?room=1"}
    )
    assert response.status_code == 400, response.text  # Janus is joinable: the guard refuses
    assert "SITIN_OUTBOUND_HOSTS" in response.json()["meeting_url"][0]
