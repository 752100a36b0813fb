"""Saved-SYN mode: the kernel keeps each connection's SYN headers; read the TOA a load balancer put on the SYN.

``TCP_SAVE_SYN`` on the listening socket makes the kernel record the SYN's IP and TCP headers for every new
connection; ``TCP_SAVED_SYN`` on the accepted socket returns them once (and frees them). No privileges needed.
Only useful when the load balancer puts the option on the SYN (Alibaba LVS does; dpvs, Tencent and Huawei put it on
the handshake ACK: use capture mode for those). Connections made while SYN cookies are active have no saved SYN.
"""

from __future__ import annotations

import errno
import socket

from . import TOA, parse_packet, to_toa

__all__ = ["TCP_SAVED_SYN", "TCP_SAVE_SYN", "enable", "read_saved_syn", "toa_from_socket"]

TCP_SAVE_SYN = 27
TCP_SAVED_SYN = 28
_BUFFER = 512  # IPv6 header + a few extension headers + a 60-byte TCP header
_LARGE_BUFFER = 4096


def enable(sock: socket.socket) -> None:
    """Turn on ``TCP_SAVE_SYN`` for a listening (or about to listen) TCP socket."""
    sock.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, 1)


def is_enabled(sock: socket.socket) -> bool:
    """Whether ``TCP_SAVE_SYN`` is on for ``sock``."""
    return bool(sock.getsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN))


def read_saved_syn(sock: socket.socket) -> bytes:
    """The saved SYN headers (IP header first) of an accepted socket, once; ``b""`` if none or already read."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, _BUFFER)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # the saved headers are longer than the buffer
            try:
                return sock.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, _LARGE_BUFFER)
            except OSError:
                return b""
        return b""


def toa_from_socket(sock: socket.socket, kinds: bytes) -> TOA | None:
    """The TOA on the saved SYN of ``sock`` for the honoured ``kinds`` table; consumes the saved SYN."""
    syn = read_saved_syn(sock)
    if not syn:
        return None
    parsed = parse_packet(syn, kinds)
    return None if parsed is None else to_toa(parsed[6])
