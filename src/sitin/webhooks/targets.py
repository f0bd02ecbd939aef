"""The SSRF guard: where a webhook may be sent.

By default only ``https://`` URLs whose host resolves exclusively to public addresses are allowed;
loopback, private, link-local, shared, multicast and reserved addresses are refused. The server
setting ``allow_insecure_webhooks`` lifts both rules (localhost development only).

At delivery the host is resolved once, checked, and the connection is made to that checked address
(the Host header and TLS server name stay the original host), so a DNS answer that changes between
the check and the connection cannot redirect a delivery to an internal address.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(ValueError):
    """The URL may not receive webhooks under the current settings (the message says why)."""


class UnresolvableTarget(UnsafeTarget):
    """The host did not resolve (perhaps for now: worth retrying)."""


@dataclass(frozen=True)
class Target:
    """Where to connect: ``connect_url`` names the checked address; ``host`` goes in the Host
    header and, for https, in the TLS server name."""

    connect_url: str
    host: str
    server_name: str | None


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _split(url: str, allow_insecure: bool):
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"invalid webhook URL: {exc}") from None
    schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise UnsafeTarget(
            f"webhook URL must start with {allowed}"
            + (
                ""
                if allow_insecure
                else " (http:// needs the server setting allow_insecure_webhooks)"
            )
        )
    if not parts.hostname:
        raise UnsafeTarget("webhook URL has no host")
    return parts, parts.hostname, port


def _refuse(host: str, address: str) -> UnsafeTarget:
    return UnsafeTarget(
        f"webhook host {host} resolves to the non-public address {address}; only public addresses "
        "are allowed unless the server setting allow_insecure_webhooks is on"
    )


def check_url(url: str, *, allow_insecure: bool) -> None:
    """The checks possible without DNS (at subscription time): scheme, host, literal addresses."""
    _parts, host, _port = _split(url, allow_insecure)
    if allow_insecure:
        return
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise _refuse(host, "127.0.0.1")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    if not is_public(literal):
        raise _refuse(host, str(literal))


def resolve_target(url: str, *, allow_insecure: bool) -> Target:
    """Resolve the URL's host and pin the first allowed address; raises UnsafeTarget."""
    parts, host, port = _split(url, allow_insecure)
    default_port = 443 if parts.scheme == "https" else 80
    try:
        infos = socket.getaddrinfo(host, port or default_port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnresolvableTarget(f"cannot resolve webhook host {host}: {exc.strerror}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not allow_insecure:
        for address in addresses:
            if not is_public(address):
                raise _refuse(host, str(address))
    pinned = addresses[0]
    literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = literal + (f":{port}" if port else "")
    return Target(
        connect_url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host=parts.netloc.rsplit("@", 1)[-1],
        server_name=host if parts.scheme == "https" else None,
    )
