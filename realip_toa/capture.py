"""Capture mode: read the TOA from the handshake ACK (or SYN, or first data) with an AF_PACKET socket.

A kernel (classic BPF) filter passes incoming TCP segments to the served ports that carry TCP options, and the
server's own outgoing SYN-ACKs from those ports; a background thread follows each connection's handshake in a
bounded table keyed by its 4-tuple. A lookup first drains whatever is still queued on the socket, so a connection
whose packets arrived before the server accepted it is never missed. Needs ``CAP_NET_RAW``.

Threat model: a capture sees segments the kernel will drop, so anyone who can send packets from the load
balancer's address and port could otherwise name a live connection's client. An option is believed only from a
segment that belongs to the connection, as the kernel would accept it:

* the SYN, once the server's SYN-ACK acknowledges exactly its sequence number (a SYN the kernel answers with a
  challenge ACK, e.g. one forged onto a live connection, never starts a connection here; a reused 4-tuple does);
* the handshake ACK or the first data segment: its sequence number must follow the SYN's and its acknowledgment
  must be the server's SYN-ACK's plus one (an off-path sender knows neither);
* its TCP checksum must be right, checked here unless the kernel says the device verified it
  (``TP_STATUS_CSUM_VALID``) or the packet was made on this host and is not checksummed yet
  (``TP_STATUS_CSUMNOTREADY``); a segment the capture cut short without such a verdict is not believed;
* the first TOA a connection gets is its TOA: later segments never change it.

Not handled: TCP Fast Open data on the SYN (the SYN-ACK then acknowledges more than the SYN's number).
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
from typing import NamedTuple

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
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_CSUM_VALID = 1 << 7
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata: status, len, snaplen, mac, net, vlan_tci, vlan_tpid
_ANCILLARY = socket.CMSG_SPACE(_AUXDATA.size)
_SEQ_MASK = 0xFFFFFFFF
_SKF_AD_OFF = -0x1000
_SKF_AD_PROTOCOL = 0
_SKF_AD_PKTTYPE = 4
_SYN, _ACK = 0x02, 0x10
#: Bytes of each packet kept by the filter: the IP and TCP headers and the payload of a segment up to a 1500-byte
#: MTU, so its checksum can be checked here (a longer segment needs the kernel's checksum verdict).
SNAPLEN = 2048
MAX_PORTS = 64

# Classic BPF opcodes used below.
_LD_W_ABS, _LD_H_ABS, _LD_B_ABS = 0x20, 0x28, 0x30
_LD_H_IND, _LD_B_IND = 0x48, 0x50
_LDX_B_MSH = 0xB1
_ALU_AND_K = 0x54
_JEQ_K, _JGT_K, _JSET_K = 0x15, 0x25, 0x45
_TCP_SYN_ACK = 0x12
_RET_K = 0x06

NO_CAPABILITY = (
    "realip_toa capture mode needs the CAP_NET_RAW capability to open an AF_PACKET socket. Grant it (run as root, "
    "'setcap cap_net_raw+ep' on the interpreter, AmbientCapabilities=CAP_NET_RAW in a systemd unit, or "
    "securityContext.capabilities.add: [NET_RAW] in Kubernetes), or use another TOA mode: 'saved-syn' needs no "
    "privilege but only sees options on the SYN, and 'kernel' uses a loaded toa.ko module."
)


def build_filter(ports: Sequence[int], snaplen: int = SNAPLEN) -> list[tuple[int, int, int, int]]:
    """Classic BPF: accept incoming IPv4/IPv6 TCP segments to ``ports`` (any port if empty) that carry options, and
    outgoing SYN-ACKs from those ports (the server's answer, which confirms which SYN started a connection).

    Runs on a ``SOCK_DGRAM`` packet socket, so offset 0 is the network header. Incoming IPv6 packets with extension
    headers are passed up (the parser walks them); IPv4 fragments other than the first are dropped.
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
    op(_JEQ_K, PACKET_OUTGOING, "out", 0)
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
    # Outgoing: only the server's SYN-ACKs from the served ports (source port, SYN and ACK both set).
    prog.append(("out", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_W_ABS, (_SKF_AD_OFF + _SKF_AD_PROTOCOL) & 0xFFFFFFFF)
    op(_JEQ_K, ETH_P_IP, "out4", 0)
    op(_JEQ_K, ETH_P_IPV6, "out6", "drop")
    prog.append(("out4", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_ABS, 9)
    op(_JEQ_K, socket.IPPROTO_TCP, 0, "drop")
    op(_LD_H_ABS, 6)
    op(_JSET_K, 0x1FFF, "drop", 0)
    op(_LDX_B_MSH, 0)
    op(_LD_H_IND, 0)
    port_checks("outok4")
    prog.append(("outok4", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_IND, 13)
    op(_ALU_AND_K, _TCP_SYN_ACK)
    op(_JEQ_K, _TCP_SYN_ACK, "accept", "drop")
    prog.append(("out6", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_ABS, 6)
    op(_JEQ_K, socket.IPPROTO_TCP, 0, "drop")  # our own SYN-ACKs carry no extension headers
    op(_LD_H_ABS, 40)
    port_checks("outok6")
    prog.append(("outok6", 0, 0, 0))  # type: ignore[arg-type]
    op(_LD_B_ABS, 53)
    op(_ALU_AND_K, _TCP_SYN_ACK)
    op(_JEQ_K, _TCP_SYN_ACK, "accept", "drop")
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


class _Syn(NamedTuple):
    """A SYN not yet answered: its sequence number and the TOA it carried (if believable)."""

    isn: int
    toa: TOA | None


class _Conn:
    """A connection the server answered: both initial sequence numbers and the TOA it got first."""

    __slots__ = ("isn", "server_isn", "toa")

    def __init__(self, isn: int, server_isn: int, toa: TOA | None) -> None:
        self.isn, self.server_isn, self.toa = isn, server_isn, toa


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
        self.table: ConnTable[_Conn] = ConnTable(max_entries, ttl)
        #: SYNs awaiting the server's SYN-ACK (a SYN flood fills this, not the table above).
        self.pending: ConnTable[_Syn] = ConnTable(max_entries, 30.0)
        self.packets = 0
        self.toas = 0
        self.errors = 0
        #: Options not believed, by rule: ``unconfirmed`` (no SYN-ACK seen for the connection), ``window`` (not the
        #: segment after the SYN), ``checksum`` (wrong, or uncheckable), ``later`` (the connection had its TOA).
        self.ignored = {"unconfirmed": 0, "window": 0, "checksum": 0, "later": 0}
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
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)  # the kernel's checksum verdict with each packet
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
        sock, buffer = self._sock, self._buffer
        assert sock is not None
        view = memoryview(buffer)
        count = 0
        while count < limit:
            try:
                size, ancillary, _flags, _address = sock.recvmsg_into([buffer], _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. the interface went down: keep serving, report it
                self.errors += 1
                _log.warning("realip_toa capture: reading the packet socket failed: %s", exc)
                break
            count += 1
            status = 0
            for level, kind, data in ancillary:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= _AUXDATA.size:
                    status = _AUXDATA.unpack_from(data)[0]
            self.observe(view[:size], status)
        self.packets += count
        return count

    def observe(self, packet: bytes | memoryview, status: int = 0) -> None:
        """Follow one captured packet (the network header first; ``status`` is the kernel's ``tp_status``)."""
        parsed = parse_packet(packet, self.kinds)
        if parsed is None:
            return
        _version, src, sport, dst, dport, flags, raw, seq, ack, checksum = parsed
        if flags & _SYN and flags & _ACK:  # the server's SYN-ACK: the kernel took this SYN as a connection
            key = (dst, dport, src, sport)
            syn = self.pending.get(key)
            if syn is not None and ack == (syn.isn + 1) & _SEQ_MASK:
                self.table.put(key, _Conn(syn.isn, seq, syn.toa))  # replaces what a reused 4-tuple left
                self.pending.forget(key)
                self.toas += syn.toa is not None
            return
        key = (src, sport, dst, dport)
        sound = bool(status & (TP_STATUS_CSUM_VALID | TP_STATUS_CSUMNOTREADY)) or checksum == 1
        toa = to_toa(raw) if raw is not None and sound else None
        if flags & _SYN:
            syn = self.pending.get(key)
            if syn is None or syn.isn != seq:
                self.pending.put(key, _Syn(seq, toa))
            elif syn.toa is None and toa is not None:  # a retransmitted SYN
                self.pending.put(key, _Syn(seq, toa))
            if raw is not None and not sound:
                self.ignored["checksum"] += 1
            return
        if raw is None:
            return
        conn = self.table.get(key)
        if conn is None:
            self.ignored["unconfirmed"] += 1
        elif conn.toa is not None:
            self.ignored["later"] += 1
        elif seq != (conn.isn + 1) & _SEQ_MASK or ack != (conn.server_isn + 1) & _SEQ_MASK:
            self.ignored["window"] += 1
        elif toa is None:
            self.ignored["checksum"] += 1
        else:
            conn.toa = toa
            self.toas += 1

    def lookup_key(self, key: ConnKey) -> TOA | None:
        """The TOA for a connection, after reading whatever is still queued on the socket.

        Draining first (one non-blocking ``recv`` when the queue is empty) means a lookup never misses a packet
        that arrived before it, nor answers from a stale entry whose 4-tuple a queued SYN has just reused.
        """
        if self.running and self._ready.poll(0):  # a cheap check: most lookups find the queue empty
            with self._lock:
                if self._sock is not None:
                    self._drain()
        conn = self.table.get(key)
        return None if conn is None else conn.toa

    def statistics(self) -> tuple[int, int]:
        """``(packets, drops)`` the kernel counted for the socket since the last call (``PACKET_STATISTICS``)."""
        if self._sock is None:
            return (0, 0)
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        packets, drops = struct.unpack("II", raw)
        return packets, drops
