"""The outbound guard's rules: public-only by default, the operator's list, this server's rooms,
IPv6 spellings of private IPv4 addresses (issue 11, item 7)."""

import asyncio

import pytest

from sitin.config import Settings
from sitin.outbound import (
    OutboundGuard,
    Purpose,
    RefusedTarget,
    UnresolvableTarget,
    is_public,
    parse_host_rules,
)

EMBEDDED_PRIVATE_V6 = [
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::ffff:7f00:1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # IPv4-translated
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo with a private client (10.0.0.1)
    "fec0::1",  # deprecated site-local
]


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE_V6)
def test_ipv6_forms_embedding_private_ipv4_are_not_public(address):
    guard = OutboundGuard()
    with pytest.raises(RefusedTarget, match="non-public address"):
        guard.check_url(f"https://[{address}]/hook", Purpose.WEBHOOK)
    with pytest.raises(RefusedTarget, match="non-public address"):
        guard.resolve(f"https://[{address}]/hook", Purpose.WEBHOOK)


def test_public_addresses_stay_public_in_their_ipv6_spellings():
    import ipaddress

    for text in ("93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"):
        assert is_public(ipaddress.ip_address(text)), text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:18080/rooms/probe",
        "http://localhost:18080/rooms/probe",
        "http://[::1]:18080/rooms/probe",
        "http://2130706433:18080/rooms/probe",
        "https://meet.example.com/rooms/probe",  # public, but not listed: not a meeting server
        "http://127.0.0.1:8001/rooms/probe",  # this server's host, another port
    ],
)
def test_a_meeting_server_must_be_this_server_or_listed(url):
    guard = OutboundGuard.from_settings(Settings(host="127.0.0.1", port=8000))
    with pytest.raises(RefusedTarget, match="SITIN_OUTBOUND_HOSTS"):
        guard.check_url(url, Purpose.MEETING)
    with pytest.raises(RefusedTarget, match="SITIN_OUTBOUND_HOSTS"):
        guard.resolve(url, Purpose.MEETING)


def test_this_servers_own_rooms_by_listen_address_and_public_url():
    guard = OutboundGuard.from_settings(
        Settings(host="127.0.0.1", port=8000, public_url="https://sitin.example.org")
    )
    for url in (
        "http://127.0.0.1:8000/rooms/a",
        "http://localhost:8000/rooms/a",
        "https://sitin.example.org/rooms/a",
        "https://sitin.example.org:443/rooms/a",
    ):
        guard.check_url(url, Purpose.MEETING)
    target = guard.resolve("ws://localhost:8000/rooms/a/ws", Purpose.MEETING)
    assert target.address in ("127.0.0.1", "::1") and target.port == 8000
    assert target.host_header == "localhost:8000" and target.server_name is None


def test_listening_everywhere_means_loopback_for_own_rooms():
    guard = OutboundGuard.from_settings(Settings(host="0.0.0.0", port=9000))
    guard.check_url("http://127.0.0.1:9000/rooms/a", Purpose.MEETING)
    guard.check_url("http://[::1]:9000/rooms/a", Purpose.MEETING)
    with pytest.raises(RefusedTarget):
        guard.check_url("http://0.0.0.0:9000/rooms/a", Purpose.MEETING)


def test_listed_hosts_names_ports_wildcards_and_networks():
    guard = OutboundGuard(
        listed=parse_host_rules("rooms.internal:8443, *.corp.example, 10.1.0.0/16, [fd00::/8]")
    )
    guard.check_url("https://rooms.internal:8443/rooms/a", Purpose.MEETING)
    guard.check_url("https://a.b.corp.example/rooms/a", Purpose.MEETING)
    guard.check_url("http://10.1.2.3:7000/rooms/a", Purpose.MEETING)
    guard.check_url("http://[fd00::5]/hook", Purpose.WEBHOOK)  # listed: http and private allowed
    for refused in (
        "https://rooms.internal:8444/rooms/a",  # another port
        "https://corp.example.evil/rooms/a",
        "http://10.2.0.1/rooms/a",
    ):
        with pytest.raises(RefusedTarget):
            guard.check_url(refused, Purpose.MEETING)


def test_a_listed_network_is_checked_on_what_the_name_resolved_to():
    guard = OutboundGuard(listed=parse_host_rules("127.0.0.0/8"))
    assert guard.resolve("http://localhost:9/rooms/a", Purpose.MEETING).address == "127.0.0.1"
    narrow = OutboundGuard(listed=parse_host_rules("127.0.0.2/32"))
    with pytest.raises(RefusedTarget):
        narrow.resolve("http://localhost:9/rooms/a", Purpose.MEETING)


@pytest.mark.parametrize(
    "settings",
    [{"allow_insecure_targets": True}, {"allow_insecure_webhooks": True}],
    ids=["SITIN_ALLOW_INSECURE_TARGETS", "the older SITIN_ALLOW_INSECURE_WEBHOOKS"],
)
def test_the_insecure_setting_lifts_webhooks_and_realtime_websockets_only(settings):
    guard = OutboundGuard.from_settings(Settings(**settings))
    guard.check_url("http://127.0.0.1:9/hook", Purpose.WEBHOOK)
    guard.check_url("ws://127.0.0.1:9/audio", Purpose.REALTIME)
    guard.check_url("ws://localhost:9/audio", Purpose.REALTIME)
    assert guard.resolve("ws://localhost:9/audio", Purpose.REALTIME).address in ("127.0.0.1", "::1")
    for purpose, url in (
        (Purpose.PROVIDER, "http://127.0.0.1:9/v1"),
        (Purpose.MEETING, "http://127.0.0.1:9/rooms/a"),
    ):
        with pytest.raises(RefusedTarget):
            guard.check_url(url, purpose)


def test_public_only_purposes_need_tls_and_name_the_setting_that_lifts_it():
    strict = OutboundGuard()
    for url in ("ws://127.0.0.1:9/audio", "wss://127.0.0.1:9/audio", "wss://localhost/audio"):
        with pytest.raises(RefusedTarget, match="SITIN_ALLOW_INSECURE_TARGETS"):
            strict.check_url(url, Purpose.REALTIME)
    with pytest.raises(RefusedTarget, match="wss://"):
        strict.check_url("ws://93.184.216.34/audio", Purpose.REALTIME)
    strict.check_url("wss://93.184.216.34/audio", Purpose.REALTIME)
    with pytest.raises(RefusedTarget, match="SITIN_ALLOW_INSECURE_WEBHOOKS"):
        strict.check_url("http://127.0.0.1:9/hook", Purpose.WEBHOOK)


def test_an_unresolvable_host_is_its_own_refusal_and_async_resolution_agrees():
    guard = OutboundGuard()
    with pytest.raises(UnresolvableTarget):
        guard.resolve("https://no-such-host.invalid/hook", Purpose.WEBHOOK)
    with pytest.raises(RefusedTarget, match="non-public"):
        asyncio.run(guard.resolve_async("https://localhost/hook", Purpose.WEBHOOK))


def test_a_malformed_entry_in_the_setting_is_refused_at_start_up():
    with pytest.raises(ValueError, match="SITIN_OUTBOUND_HOSTS"):
        Settings(outbound_hosts="rooms.internal:99999")
    with pytest.raises(ValueError, match="SITIN_OUTBOUND_HOSTS"):
        Settings(outbound_hosts="http://rooms.internal/")
