"""Which addresses LIBRARYLAB_PRINTER_NETWORKS lets a printer have."""

from __future__ import annotations

import ipaddress

import pytest

from printers.networks import allowed


@pytest.mark.parametrize(
    ("address", "networks", "expected"),
    [
        ("192.168.20.7", "", True),  # no setting: anywhere
        ("192.168.20.7", "192.168.20.0/24", True),
        ("192.168.21.7", "192.168.20.0/24", False),
        ("127.0.0.1", "192.168.20.0/24, 10.0.0.0/8", False),
        ("10.1.2.3", "192.168.20.0/24, 10.0.0.0/8", True),
        ("::ffff:192.168.20.7", "192.168.20.0/24", True),  # an IPv4 peer on a dual-stack socket
        ("::ffff:127.0.0.1", "192.168.20.0/24", False),
        ("fd00:20::5", "fd00:20::/64", True),
        ("fe80::1%eth0", "fe80::/10", True),
        ("::1", "192.168.20.0/24", False),
    ],
)
def test_an_address_is_allowed_in_the_printer_networks(
    address: str, networks: str, expected: bool
) -> None:
    parsed = [ipaddress.ip_network(n.strip()) for n in networks.split(",") if n.strip()]
    assert allowed(address, parsed) is expected
