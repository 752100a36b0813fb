"""Capture mode: read the TOA from the handshake ACK (or SYN, or first data) with an AF_PACKET socket.

A kernel (classic BPF) filter passes only incoming TCP segments to the served ports that carry TCP options, cut to
their headers; a background thread parses them into a bounded table keyed by the connection's 4-tuple. A lookup
first drains whatever is still queued on the socket, so a connection whose packets arrived before the server
accepted it is never missed, nor answered from a stale entry: a SYN resets the entry for its 4-tuple (a reused
4-tuple is a new connection). Needs ``CAP_NET_RAW``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import socket
import struct
import threading
from collections.abc import Iterable, Sequence

from . import TOA, TOAConfigError, parse_packet, to_toa
from ._table import ConnKey, ConnTable

__all__ = ["Capture", "build_filter"]

_log = logging.getLogger("realip_toa")

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
_SKF_AD_OFF = -0x1000
_SKF_AD_PROTOCOL = 0
_SKF_AD_PKTTYPE = 4
_SYN, _ACK = 0x02, 0x10
#: Bytes of each packet kept by the filter: IP header(s) + a full TCP header, never the payload.
SNAPLEN = 256
MAX_PORTS = 64

# Classic BPF opcodes used below.
_LD_W_ABS, _LD_H_ABS, _LD_B_ABS = 0x20, 0x28, 0x30
_LD_H_IND, _LD_B_IND = 0x48, 0x50
_LDX_B_MSH = 0xB1
_ALU_AND_K = 0x54
_JEQ_K, _JGT_K, _JSET_K = 0x15, 0x25, 0x45
_RET_K = 0x06

NO_CAPABILITY = (
    "realip_toa capture mode needs the CAP_NET_RAW capability to open an AF_PACKET socket. Grant it (run as root, "
    "'setcap cap_net_raw+ep' on the interpreter, AmbientCapabilities=CAP_NET_RAW in a systemd unit, or "
    "securityContext.capabilities.add: [NET_RAW] in Kubernetes), or use another TOA mode: 'saved-syn' needs no "
    "privilege but only sees options on the SYN, and 'kernel' uses a loaded toa.ko module."
)


def build_filter(ports: Sequence[int], snaplen: int = SNAPLEN) -> list[tuple[int, int, int, int]]:
    """Classic BPF: accept incoming IPv4/IPv6 TCP segments to ``ports`` (any port if empty) that carry options.

    Runs on a ``SOCK_DGRAM`` packet socket, so offset 0 is the network header. IPv6 packets with extension headers
    are passed up (the parser walks them); IPv4 fragments other than the first are dropped.
    """
    if len(ports) > MAX_PORTS:
        raise TOAConfigError(f"capture: at most {MAX_PORTS} ports can be filtered, got {len(ports)}")
    prog: list[tuple[int, object, object, int]] = []

    def op(code: int, k: int, jt: object = 0, jf: object = 0) -> None:
        prog.append((code, jt, jf, k))

    def port_checks(ok: str) -> None:
        if not ports:
            op(_JEQ_K, 0, ok, ok)  # any port: unconditional jump
            return
        for i, port in enumerate(ports):
            op(_JEQ_K, port, ok, "drop" if i == len(ports) - 1 else 0)

    op(_LD_W_ABS, (_SKF_AD_OFF + _SKF_AD_PKTTYPE) & 0xFFFFFFFF)
    op(_JEQ_K, PACKET_OUTGOING, "drop", 0)
    op(_LD_W_ABS, (_SKF_AD_OFF + _SKF_AD_PROTOCOL) & 0xFFFFFFFF)
    op(_JEQ_K, ETH_P_IP, "v4", 0)
    op(_JEQ_K, ETH_P_IPV6, "v6", "drop")
    prog.append(("v4", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_ABS, 9)
    op(_JEQ_K, socket.IPPROTO_TCP, 0, "drop")
    op(_LD_H_ABS, 6)
    op(_JSET_K, 0x1FFF, "drop", 0)
    op(_LDX_B_MSH, 0)
    op(_LD_H_IND, 2)
    port_checks("ok4")
    prog.append(("ok4", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_IND, 12)
    op(_ALU_AND_K, 0xF0)
    op(_JGT_K, 0x50, "accept", "drop")
    prog.append(("v6", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_ABS, 6)
    op(_JEQ_K, socket.IPPROTO_TCP, 0, "accept")  # extension headers: let the parser decide
    op(_LD_H_ABS, 42)
    port_checks("ok6")
    prog.append(("ok6", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_ABS, 52)
    op(_ALU_AND_K, 0xF0)
    op(_JGT_K, 0x50, "accept", "drop")
    prog.append(("accept", 0, 0, 0))  # type: ignore[arg-type]
    op(_RET_K, snaplen)
    prog.append(("drop", 0, 0, 0))  # type: ignore[arg-type]
    op(_RET_K, 0)

    # Resolve labels: a label row marks the index of the next instruction; jumps are relative to the next one.
    labels: dict[str, int] = {}
    code: list[tuple[int, object, object, int]] = []
    for row in prog:
        if isinstance(row[0], str):
            labels[row[0]] = len(code)
        else:
            code.append(row)
    out = []
    for index, (opcode, jt, jf, k) in enumerate(code):
        offsets = []
        for target in (jt, jf):
            offset = labels[target] - index - 1 if isinstance(target, str) else int(target)  # type: ignore[call-overload]
            if not 0 <= offset <= 255:
                raise TOAConfigError("capture: the BPF filter is too long for its jumps; filter fewer ports")
            offsets.append(offset)
        out.append((opcode, offsets[0], offsets[1], k))
    return out


def _attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    """``SO_ATTACH_FILTER`` the classic BPF ``program`` to ``sock`` (the kernel copies it)."""
    blob = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(blob)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _bind_all(sock: socket.socket, ifindex: int) -> None:
    """Bind a packet socket to every protocol on ``ifindex`` (0: all interfaces), which Python's ``bind`` cannot
    express; done after the filter is attached, so no unfiltered packet is ever queued."""
    address = struct.pack("=HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P_ALL), ifindex, 0, 0, 0, b"")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.bind(sock.fileno(), ctypes.c_char_p(address), ctypes.c_uint(len(address))) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


class Capture:
    """Sniff TOA options for connections to ``ports`` (all ports if empty) on ``interface`` (all if ``None``)."""

    def __init__(
        self,
        kinds: bytes,
        ports: Iterable[int] = (),
        interface: str | None = None,
        max_entries: int = 65536,
        ttl: float = 600.0,
        rcvbuf: int = 4 << 20,
    ) -> None:
        self.kinds = kinds
        checked = set()
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise TOAConfigError(f"capture port {port!r}: must be a port number 1..65535")
            checked.add(port)
        self.ports = tuple(sorted(checked))
        self.interface = interface
        self.rcvbuf = rcvbuf
        self.table = ConnTable(max_entries, ttl)
        self.packets = 0
        self.toas = 0
        self.errors = 0
        self._program = build_filter(self.ports)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_r, self._stop_w = -1, -1
        self._pid = -1
        self._buffer = bytearray(SNAPLEN)
        self._ready = select.poll()

    @property
    def running(self) -> bool:
        """Whether the capture is open in this process."""
        return self._sock is not None and self._pid == os.getpid()

    def start(self, background: bool = True) -> None:
        """Open the packet socket and start the reader thread (again in a forked child); idempotent.

        ``background=False`` starts no thread: packets are then read only by lookups that miss (tests use it).
        """
        if self.running:
            return
        self._abandon()
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)  # protocol 0: receives nothing yet
        except PermissionError as exc:
            raise TOAConfigError(NO_CAPABILITY) from exc
        try:
            _attach_filter(sock, self._program)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            _bind_all(sock, socket.if_nametoindex(self.interface) if self.interface else 0)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            where = f"interface {self.interface!r}" if self.interface else "all interfaces"
            raise TOAConfigError(f"capture on {where} could not start: {exc}") from exc
        self._sock = sock
        self._ready = select.poll()
        self._ready.register(sock.fileno(), select.POLLIN)
        self._pid = os.getpid()
        self._stop_r, self._stop_w = os.pipe()
        if background:
            self._thread = threading.Thread(target=self._run, name="realip-toa-capture", daemon=True)
            self._thread.start()

    def _abandon(self) -> None:
        """Forget a capture inherited over fork (its thread did not survive); the parent still owns its socket.

        The locks are made anew: the parent's reader thread may have held them at the fork.
        """
        if self._pid != os.getpid():
            self._lock = threading.Lock()
            self.table.after_fork()
        if self._sock is not None and self._pid != os.getpid():
            self._sock.close()
            for fd in (self._stop_r, self._stop_w):
                os.close(fd)
            self._sock, self._thread = None, None

    def stop(self) -> None:
        """Stop the reader thread and close the socket."""
        if not self.running:
            self._abandon()
            return
        os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            assert self._sock is not None
            self._sock.close()
            self._sock = None
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)
        self._thread = None

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            events = poller.poll()
            if any(fd == self._stop_r for fd, _ in events):
                return
            with self._lock:
                if self._sock is None:
                    return
                self._drain(limit=4096)

    def _drain(self, limit: int = 1 << 30) -> int:
        """Read and record queued packets (caller holds the lock) until the queue is empty or ``limit`` is reached."""
        sock, buffer, kinds, table = self._sock, self._buffer, self.kinds, self.table
        assert sock is not None
        view = memoryview(buffer)
        count = 0
        while count < limit:
            try:
                size = sock.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. the interface went down: keep serving, report it
                self.errors += 1
                _log.warning("realip_toa capture: reading the packet socket failed: %s", exc)
                break
            count += 1
            parsed = parse_packet(view[:size], kinds)
            if parsed is None:
                continue
            _version, src, sport, dst, dport, flags, raw = parsed
            key = (src, sport, dst, dport)
            if flags & _SYN and not flags & _ACK:
                table.forget(key)
            if raw is not None:
                toa = to_toa(raw)
                assert toa is not None
                table.put(key, toa)
                self.toas += 1
        self.packets += count
        return count

    def lookup_key(self, key: ConnKey) -> TOA | None:
        """The TOA for a connection, after reading whatever is still queued on the socket.

        Draining first (one non-blocking ``recv`` when the queue is empty) means a lookup never misses a packet
        that arrived before it, nor answers from a stale entry whose 4-tuple a queued SYN has just reused.
        """
        if self.running and self._ready.poll(0):  # a cheap check: most lookups find the queue empty
            with self._lock:
                if self._sock is not None:
                    self._drain()
        return self.table.get(key)

    def statistics(self) -> tuple[int, int]:
        """``(packets, drops)`` the kernel counted for the socket since the last call (``PACKET_STATISTICS``)."""
        if self._sock is None:
            return (0, 0)
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        packets, drops = struct.unpack("II", raw)
        return packets, drops
