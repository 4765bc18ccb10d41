"""Which hosts a download may reach: public addresses only, unless the settings allow private ones.

A search result or a third-party manifest can name any URL. Without this check it could make the
collector fetch from the machine itself (127.0.0.1), its network (10/8, 192.168/16) or a cloud
metadata service (169.254.169.254) and keep the answer in the collection. The host is resolved
and every address it resolves to must be publicly routable.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class PrivateHostError(ValueError):
    """The URL's host is (or resolves to) a loopback, private, link-local or otherwise non-public address."""


class HostLookupError(OSError):
    """The URL's host did not resolve (no network, no such name): worth retrying later."""


def address_kind(address: str) -> str | None:
    """Why an address is refused ('loopback', 'private', ...), or None for a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, refused in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    ):
        if refused:
            return kind
    return None


def check_public_host(url: str) -> None:
    """Raise PrivateHostError when any address the URL's host resolves to is not public."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError) as exc:
        raise HostLookupError(f"cannot resolve {host!r}: {exc}") from exc
    for address in sorted(addresses):
        if kind := address_kind(address):
            shown = host if host == address else f"{host} ({address})"
            raise PrivateHostError(f"{shown} is a {kind} address")
