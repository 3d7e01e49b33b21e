"""The networks printers may be in (``LIBRARYLAB_PRINTER_NETWORKS``); none given: any.

A printer's host is checked when it is registered (every address its name resolves to) and
again on every connection to it, against the address actually connected to (see
``printers.octoprint``): a name that resolves to an allowed address at registration and to
another one later (DNS rebinding) is refused then.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "LIBRARYLAB_PRINTER_NETWORKS"


def allowed(address: str, networks: Sequence[Network]) -> bool:
    """Is ``address`` (an IP as a socket reports it) in one of ``networks``?"""
    if not networks:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope says nothing here
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def addresses(host: str) -> list[str]:
    """Every address ``host`` resolves to now (an OSError when it resolves to none)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})
