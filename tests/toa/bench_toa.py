"""Measure realip_toa (prints numbers, asserts nothing): parse cost per packet (C vs pure Python), lookup cost per
request, and how many connections per second the capture keeps up with on loopback before the kernel drops.

    sudo python -m tests.toa.bench_toa            # root: the capture part needs CAP_NET_RAW

Loopback only: injected segments go from 127.0.0.2 to 127.0.0.1 on a free port nobody listens on.
"""

from __future__ import annotations

import multiprocessing
import socket
import struct
import time
import timeit

from realip_toa import DEFAULT_KINDS, TOA, TOASource, _pure, pack_kinds
from realip_toa._table import conn_key
from realip_toa.source import REGISTRY

from .conftest import c_parser
from .vectors import NOP, PACKET_VECTORS, TS, ipv4, tcp, toa

KINDS = pack_kinds(DEFAULT_KINDS)
CLIENT = socket.inet_aton("192.0.2.77")


def per_call(statement: object, number: int) -> float:
    """Best-of-5 nanoseconds per call."""
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e9  # type: ignore[arg-type]


def bench_parse() -> None:
    ack4 = PACKET_VECTORS[0][1]
    ack6 = next(v[1] for v in PACKET_VECTORS if v[0].startswith("IPv6 ACK"))
    options = NOP + NOP + TS + toa(254, 8080, CLIENT)
    c = c_parser()
    for name, data in [("IPv4 ACK+TOA packet", ack4), ("IPv6 ACK+TOA packet", ack6)]:
        fast = per_call(lambda d=data: c.parse_packet(d, KINDS), 200_000)
        slow = per_call(lambda d=data: _pure.parse_packet(d, KINDS), 20_000)
        print(f"parse_packet {name:22s}: C {fast:7.0f} ns   pure {slow:7.0f} ns   ({slow / fast:4.1f}x)")
    fast = per_call(lambda: c.parse_options(options, KINDS), 200_000)
    slow = per_call(lambda: _pure.parse_options(options, KINDS), 20_000)
    print(f"parse_options {'TS + 254/8 block':21s}: C {fast:7.0f} ns   pure {slow:7.0f} ns   ({slow / fast:4.1f}x)")


def segment(sport: int, dport: int, options: bytes, flags: int) -> bytes:
    body = struct.pack("!HH", sport, dport) + tcp(options, flags)[4:]
    packet = bytearray(ipv4(body))
    packet[12:16] = socket.inet_aton("127.0.0.2")
    packet[16:20] = socket.inet_aton("127.0.0.1")
    return bytes(packet)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_lookup() -> None:
    port = free_port()
    scope = {"client": ("127.0.0.2", 40000), "server": ("127.0.0.1", port), "type": "http"}
    key = conn_key(("127.0.0.2", 40000), ("127.0.0.1", port))
    assert key is not None
    saved = TOASource("saved-syn")
    REGISTRY.put(key, TOA(254, "192.0.2.77", 5555))
    print(
        f"lookup_asgi saved-syn (registry hit)         : {per_call(lambda: saved.lookup_asgi(scope), 50_000):7.0f} ns"
    )
    REGISTRY.forget(key)
    capture = TOASource("capture", ports=[port], interface="lo")
    capture.start()
    try:
        assert capture.capture is not None
        capture.capture.table.put(key, TOA(254, "192.0.2.77", 5555))
        hit = per_call(lambda: capture.lookup_asgi(scope), 50_000)
        print(f"lookup_asgi capture (hit, drains empty queue) : {hit:7.0f} ns")
        miss_scope = {**scope, "client": ("127.0.0.2", 40001)}
        miss = per_call(lambda: capture.lookup_asgi(miss_scope), 50_000)
        print(f"lookup_asgi capture (miss)                    : {miss:7.0f} ns")
    finally:
        capture.stop()


def inject(port: int, rate: int, total: int) -> None:
    """Send ``total`` SYN + ACK-with-TOA pairs to 127.0.0.1:``port`` at ``rate`` pairs per second (own process)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    syn_opts, ack_opts = NOP + NOP + TS, NOP + NOP + TS + toa(254, 5555, CLIENT)
    start = time.perf_counter()
    for index in range(total):
        sport = 1024 + index % 60000
        raw.sendto(segment(sport, port, syn_opts, 0x02), ("127.0.0.1", 0))
        raw.sendto(segment(sport, port, ack_opts, 0x10), ("127.0.0.1", 0))
        due = start + (index + 1) / rate
        if (wait := due - time.perf_counter()) > 0.0005:
            time.sleep(wait)
    elapsed = time.perf_counter() - start
    print(
        f"capture: offered {total / elapsed:8.0f} conn/s ({2 * total / elapsed:8.0f} pkt/s) for {elapsed:.1f}s: ",
        end="",
    )
    raw.close()


def bench_capture(rates: list[int], seconds: float = 1.0) -> None:
    """One emulated connection = a SYN and an ACK carrying TOA, injected by another process at each rate."""
    port = free_port()
    for rate in rates:
        source = TOASource("capture", ports=[port], interface="lo", max_entries=1 << 20)
        source.start()
        cap = source.capture
        assert cap is not None
        cap.statistics()  # reset the kernel counters
        sender = multiprocessing.Process(target=inject, args=(port, rate, int(rate * seconds)))
        sender.start()
        sender.join()
        time.sleep(0.3)
        received, dropped = cap.statistics()
        source.stop()
        print(f"kernel passed {received}, dropped {dropped}; parsed {cap.packets}, TOAs {cap.toas}", flush=True)


def main() -> None:
    bench_parse()
    bench_lookup()
    bench_capture([5_000, 20_000, 40_000, 80_000], seconds=2.0)


if __name__ == "__main__":
    main()
