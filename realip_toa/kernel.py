"""Kernel-module mode: a loaded ``toa.ko`` already makes ``getpeername()`` return the client.

With the module loaded, the server's peer address *is* the client, so there is nothing to look up for IPv4 or
IPv6 clients. For NAT64 (an IPv6 client reaching an IPv4 socket), the dpvs and Tencent modules answer
``getsockopt(IPPROTO_IP, 4096)`` with ``struct toa_nat64_peer { struct in6_addr saddr; __u16 port; }``.
"""

from __future__ import annotations

import os
import socket

from . import TOA

__all__ = ["MODULE_NAMES", "TOA_SO_GET_LOOKUP", "loaded_module", "nat64_lookup"]

#: Names the TOA kernel modules load under (``/sys/module/<name>``).
MODULE_NAMES = ("toa", "vtoa")
#: dpvs / Tencent ``TOA_SO_GET_LOOKUP``: the NAT64 client of a connection.
TOA_SO_GET_LOOKUP = 4096
_NAT64_PEER_SIZE = 20  # in6_addr (16) + port (2), padded to 4-byte alignment


def loaded_module(sys_module: str = "/sys/module") -> str | None:
    """The name of a loaded TOA kernel module (``"toa"`` or ``"vtoa"``), or ``None``."""
    for name in MODULE_NAMES:
        if os.path.isdir(os.path.join(sys_module, name)):
            return name
    return None


def decode_nat64_peer(raw: bytes) -> TOA | None:
    """Decode ``struct toa_nat64_peer`` (port in network order, as on the wire); all-zero means no answer."""
    if len(raw) < 18:
        return None
    address, port = raw[:16], int.from_bytes(raw[16:18], "big")
    if address == bytes(16):
        return None
    return TOA(0, socket.inet_ntop(socket.AF_INET6, address), port)


def nat64_lookup(sock: socket.socket) -> TOA | None:
    """The IPv6 client of a NAT64 connection from the kernel module (kind reported as 0), or ``None``."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_IP, TOA_SO_GET_LOOKUP, _NAT64_PEER_SIZE)
    except OSError:  # no module (ENOPROTOOPT), not a NAT64 connection, or not an IPv4 socket
        return None
    return decode_nat64_peer(raw)
