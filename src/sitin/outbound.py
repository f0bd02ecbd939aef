"""The outbound-connection guard: where sitin may connect on a user's behalf.

Every connection whose destination comes from a request — webhook deliveries, bots joining a
meeting server, realtime-audio websockets, transcription provider endpoints — asks this guard
first, once without DNS when the URL is accepted (``check_url``) and again when connecting
(``resolve``), on the addresses the host resolved to. The caller then connects to the checked
address it was given (``Target``), so a DNS answer that changes between check and connection
cannot steer it to an internal address.

Two rules, chosen by the ``Purpose``:

- a meeting server (``Purpose.MEETING``) must be this server's own rooms (its public URL or its
  listen address) or a host the operator listed in ``SITIN_OUTBOUND_HOSTS``; nothing else, so a
  bot is never a port scanner, not even of the public internet;
- everything else must resolve to public addresses only and use TLS (https://, wss://), unless
  the host is listed. ``SITIN_ALLOW_INSECURE_TARGETS`` (or its older name
  ``SITIN_ALLOW_INSECURE_WEBHOOKS``) lifts both for webhooks and realtime websockets (localhost
  development only).

``SITIN_OUTBOUND_HOSTS`` is a comma-separated list of ``host``, ``host:port``, ``*.domain``,
IP addresses and CIDR networks (``10.0.0.0/8``, ``[fd00::/8]:8443``). A listed name is trusted
whatever it resolves to (the operator controls it); a listed network allows any host whose
addresses all lie inside it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

HOSTS_SETTING = "SITIN_OUTBOUND_HOSTS"
INSECURE_SETTING = "SITIN_ALLOW_INSECURE_TARGETS"
INSECURE_WEBHOOKS_SETTING = "SITIN_ALLOW_INSECURE_WEBHOOKS"  # the older name; the same effect
# Plain http:// / ws:// and private or loopback destinations, for local development only. Never
# lifts the rules for meeting servers or provider endpoints (the operator lists those).
LIFTABLE = ("webhook", "realtime")

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
TLS_SCHEMES = {"https", "wss"}

# IPv6 ranges that carry an IPv4 address (RFC 4291 compatible and mapped, RFC 2765 translated,
# RFC 6052 NAT64): the embedded address decides. The local-use NAT64 prefix and deprecated
# site-local addresses are never public.
_EMBEDDING_V4 = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
_NEVER_PUBLIC_V6 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b:1::/48", "fec0::/10"))


class Purpose(StrEnum):
    MEETING = "meeting"  # a meeting server a bot joins (room, Janus, …)
    WEBHOOK = "webhook"
    REALTIME = "realtime"  # a realtime-audio websocket
    PROVIDER = "provider"  # a transcription provider's endpoint

    @property
    def noun(self) -> str:
        return {
            Purpose.MEETING: "meeting server",
            Purpose.WEBHOOK: "webhook URL",
            Purpose.REALTIME: "realtime websocket URL",
            Purpose.PROVIDER: "provider endpoint",
        }[self]

    @property
    def schemes(self) -> tuple[str, ...]:
        if self is Purpose.MEETING:
            return ("http", "https", "ws", "wss")
        return ("ws", "wss") if self is Purpose.REALTIME else ("http", "https")


class RefusedTarget(ValueError):
    """The destination is not allowed; str(error) says why and names the setting that widens it.
    Never carries anything the remote answered: a refused target is never contacted."""


class UnresolvableTarget(RefusedTarget):
    """The host did not resolve (perhaps only for now: worth retrying)."""


@dataclass(frozen=True)
class Target:
    """A checked destination. Connect to ``address``:``port`` (or ``connect_url``, the URL with
    the address in place of the host); send ``host_header`` as Host and, for TLS, ``server_name``
    as the TLS server name."""

    url: str
    scheme: str
    hostname: str
    port: int
    address: str  # the checked IP address, as text
    connect_url: str
    host_header: str
    server_name: str | None


def is_public(address: IpAddress) -> bool:
    """True for a globally routable unicast address, looking inside IPv6 forms embedding IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _NEVER_PUBLIC_V6):
            return False
        embedded = _embedded_ipv4(address)
        if embedded:
            return all(is_public(inner) for inner in embedded)
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # the Teredo server and the client
    if any(address in network for network in _EMBEDDING_V4):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


@dataclass(frozen=True)
class HostRule:
    """One entry of SITIN_OUTBOUND_HOSTS (or one of this server's own origins)."""

    name: str | None = None  # exact host name, or ".domain" for "*.domain"
    network: IpNetwork | None = None
    port: int | None = None  # None: any port

    def matches_host(self, hostname: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            if self.name.startswith("."):
                return hostname.endswith(self.name)
            return _canonical(hostname) == self.name
        literal = _ip_literal(hostname)
        return literal is not None and literal in self.network  # type: ignore[operator]

    def matches_address(self, address: IpAddress, port: int) -> bool:
        return (
            self.network is not None
            and address in self.network
            and (self.port is None or self.port == port)
        )


def parse_host_rules(text: str | Iterable[str]) -> tuple[HostRule, ...]:
    """Entries of SITIN_OUTBOUND_HOSTS; ValueError names a malformed one."""
    entries = text.split(",") if isinstance(text, str) else list(text)
    return tuple(_parse_rule(e.strip()) for e in entries if e.strip())


def _parse_rule(entry: str) -> HostRule:
    host, port = entry, None
    if entry.startswith("["):  # [v6 address or network]:port
        host, _, rest = entry[1:].partition("]")
        if rest:
            port = _parse_port(entry, rest.removeprefix(":"))
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
        port = _parse_port(entry, port_text)
    try:
        return HostRule(network=ipaddress.ip_network(host, strict=False), port=port)
    except ValueError:
        pass
    name = host.lower().rstrip(".")
    wildcard = name.startswith("*.")
    label_part = name[2:] if wildcard else name
    if not label_part or not all(
        label and all(c.isalnum() or c == "-" for c in label) for label in label_part.split(".")
    ):
        raise ValueError(
            f"{HOSTS_SETTING}: {entry!r} is not a host, host:port, *.domain, IP address or network"
        )
    return HostRule(name=name[1:] if wildcard else name, port=port)


def _parse_port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{HOSTS_SETTING}: {entry!r} has an invalid port")
    return int(text)


def own_origins(*, public_url: str | None, host: str, port: int) -> tuple[HostRule, ...]:
    """This server's own rooms: the host and port of its public URL and its listen address
    (loopback when it listens on every interface)."""
    rules = []
    if public_url:
        parts = urlsplit(public_url)
        if parts.hostname:
            scheme_port = DEFAULT_PORTS.get(parts.scheme, 443)
            rules.append(_exact(parts.hostname, parts.port or scheme_port))
    listen = _ip_literal(host)
    if listen is not None and listen.is_unspecified:
        rules += [_exact(name, port) for name in ("127.0.0.1", "::1", "localhost")]
    else:
        rules.append(_exact(host, port))
        if listen is not None and listen.is_loopback:
            rules.append(_exact("localhost", port))
    return tuple(rules)


def _exact(hostname: str, port: int) -> HostRule:
    """A rule matching this host name (or address, however spelled) by name only."""
    return HostRule(name=_canonical(hostname), port=port)


def _canonical(hostname: str) -> str:
    literal = _ip_literal(hostname)
    return str(literal) if literal is not None else hostname.lower().rstrip(".")


def _ip_literal(hostname: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(hostname.split("%", 1)[0])
    except ValueError:
        return None


class OutboundGuard:
    """The operator's rules for outbound connections (built once from Settings)."""

    def __init__(
        self,
        *,
        listed: Sequence[HostRule] = (),
        own: Sequence[HostRule] = (),
        allow_insecure: bool = False,
        allow_insecure_webhooks: bool = False,
    ) -> None:
        self.listed = tuple(listed)
        self.own = tuple(own)
        # webhooks and realtime websockets alike (allow_insecure_webhooks: the older name)
        self.allow_insecure = allow_insecure or allow_insecure_webhooks

    @classmethod
    def from_settings(cls, settings) -> OutboundGuard:
        return cls(
            listed=parse_host_rules(settings.outbound_hosts),
            own=own_origins(public_url=settings.public_url, host=settings.host, port=settings.port),
            allow_insecure=settings.insecure_targets_allowed,
        )

    # ---- the API ---------------------------------------------------------------------------

    def check_url(self, url: str, purpose: Purpose) -> None:
        """Everything decidable without DNS (when a URL is accepted); RefusedTarget otherwise.
        (One case resolves: a meeting server named by a host only a listed network admits.)"""
        parts, hostname, port = self._split(url, purpose)
        if self._lifted(purpose) or self._named(hostname, port):
            return
        if purpose is Purpose.MEETING:
            literal = _ip_literal(hostname)
            if literal is None:  # a name only a listed network could admit: what it resolves to
                if not self._networks(port):
                    raise self._refuse_meeting(hostname, port)
                self.resolve(url, purpose)
            elif not self._in_listed_network([literal], port):
                raise self._refuse_meeting(hostname, port)
            return
        self._require_tls(parts.scheme, purpose)
        if hostname == "localhost" or hostname.endswith(".localhost"):
            raise self._refuse_private(purpose, hostname, "127.0.0.1")
        literal = _ip_literal(hostname)
        if literal is not None and not (
            is_public(literal) or self._in_listed_network([literal], port)
        ):
            raise self._refuse_private(purpose, hostname, str(literal))

    def resolve(self, url: str, purpose: Purpose) -> Target:
        """Resolve the host (blocking), check every address, pin the first; RefusedTarget."""
        parts, hostname, port = self._split(url, purpose)
        self._refuse_before_dns(purpose, hostname, port)
        try:
            infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise self._unresolvable(purpose, hostname, exc) from None
        return self._decide(url, purpose, parts, hostname, port, infos)

    async def resolve_async(self, url: str, purpose: Purpose) -> Target:
        """``resolve`` without blocking the event loop."""
        parts, hostname, port = self._split(url, purpose)
        self._refuse_before_dns(purpose, hostname, port)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                hostname, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise self._unresolvable(purpose, hostname, exc) from None
        return self._decide(url, purpose, parts, hostname, port, infos)

    # ---- the rules -------------------------------------------------------------------------

    def _decide(self, url, purpose, parts, hostname, port, infos) -> Target:
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
        if not addresses:
            raise self._unresolvable(purpose, hostname, None)
        if not (self._lifted(purpose) or self._named(hostname, port)):
            if purpose is Purpose.MEETING:
                if not self._in_listed_network(addresses, port):
                    raise self._refuse_meeting(hostname, port)
            else:
                self._require_tls(parts.scheme, purpose)
                for address in addresses:
                    if not (is_public(address) or self._in_listed_network([address], port)):
                        raise self._refuse_private(purpose, hostname, str(address))
        pinned = addresses[0]
        literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
        netloc = literal + (f":{parts.port}" if parts.port else "")
        return Target(
            url=url,
            scheme=parts.scheme,
            hostname=hostname,
            port=port,
            address=str(pinned),
            connect_url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
            host_header=parts.netloc.rsplit("@", 1)[-1],
            server_name=hostname if parts.scheme in TLS_SCHEMES else None,
        )

    def _refuse_before_dns(self, purpose: Purpose, hostname: str, port: int) -> None:
        """A meeting server nothing can admit is refused without even a DNS query."""
        if purpose is Purpose.MEETING and not (self._named(hostname, port) or self._networks(port)):
            raise self._refuse_meeting(hostname, port)

    def _networks(self, port: int) -> bool:
        """Whether a listed network could admit a host on this port."""
        return any(r.network is not None and r.port in (None, port) for r in self.listed)

    def _lifted(self, purpose: Purpose) -> bool:
        return purpose.value in LIFTABLE and self.allow_insecure

    def _named(self, hostname: str, port: int) -> bool:
        """Listed or own by name (or by literal address)."""
        return any(rule.matches_host(hostname, port) for rule in (*self.own, *self.listed))

    def _in_listed_network(self, addresses: Sequence[IpAddress], port: int) -> bool:
        return all(any(rule.matches_address(a, port) for rule in self.listed) for a in addresses)

    def _split(self, url: str, purpose: Purpose):
        try:
            parts = urlsplit(url)
            explicit_port = parts.port
        except ValueError as exc:
            raise RefusedTarget(f"invalid {purpose.noun}: {exc}") from None
        if parts.scheme not in purpose.schemes:
            allowed = " or ".join(f"{s}://" for s in purpose.schemes)
            raise RefusedTarget(f"{purpose.noun} must start with {allowed}")
        hostname = (parts.hostname or "").rstrip(".")
        if not hostname:
            raise RefusedTarget(f"{purpose.noun} has no host")
        return parts, hostname, explicit_port or DEFAULT_PORTS[parts.scheme]

    def _require_tls(self, scheme: str, purpose: Purpose) -> None:
        if scheme in TLS_SCHEMES:
            return
        secure = "wss://" if purpose is Purpose.REALTIME else "https://"
        hint = f" or {_insecure_hint()}" if purpose.value in LIFTABLE else ""
        raise RefusedTarget(
            f"{purpose.noun} must start with {secure} (plain {scheme}:// only to a host listed "
            f"in {HOSTS_SETTING}{hint})"
        )

    def _refuse_private(self, purpose: Purpose, hostname: str, address: str) -> RefusedTarget:
        hint = f", or {_insecure_hint()} for development" if purpose.value in LIFTABLE else ""
        return RefusedTarget(
            f"{purpose.noun} host {hostname} resolves to the non-public address {address}; only "
            f"public addresses are allowed unless the host is listed in {HOSTS_SETTING}{hint}"
        )

    def _refuse_meeting(self, hostname: str, port: int) -> RefusedTarget:
        return RefusedTarget(
            f"meeting server {hostname}:{port} is neither this server's own rooms nor a host "
            f"listed in {HOSTS_SETTING}; the operator can list it there"
        )

    def _unresolvable(self, purpose: Purpose, hostname: str, exc) -> UnresolvableTarget:
        reason = getattr(exc, "strerror", None) or "no address"
        return UnresolvableTarget(f"cannot resolve {purpose.noun} host {hostname}: {reason}")


def _insecure_hint() -> str:
    return f"{INSECURE_SETTING}=true (or the older {INSECURE_WEBHOOKS_SETTING}=true)"
