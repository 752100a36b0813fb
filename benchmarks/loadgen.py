"""A small HTTP/1.1 load generator, the fallback when ``wrk`` is not installed: ``python -m benchmarks.loadgen``.

Runs in its own process (so it never shares an interpreter with the server), keeps ``connections`` keep-alive
connections busy for ``seconds`` against a 127.0.0.1 URL, reconnecting when the server closes (gunicorn's sync
worker does after each response), and prints ``requests/s: N``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit

__all__ = ["main", "run"]


async def _worker(host: str, port: int, request: bytes, deadline: float, counts: list[int]) -> None:
    reader = writer = None
    while time.monotonic() < deadline:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        assert reader is not None
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        await reader.readexactly(length)
        counts[0] += 1
        if close:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def run(url: str, seconds: float, connections: int, headers: list[str]) -> float:
    """Requests per second over ``seconds`` with ``connections`` concurrent connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit(f"loadgen: only loopback targets are allowed, not {host!r}")
    lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    request = "\r\n".join(lines).encode("latin-1")
    counts = [0]
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(_worker(host, port, request, deadline, counts) for _ in range(connections)))
    return counts[0] / (time.monotonic() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args(argv)
    rate = asyncio.run(run(args.url, args.seconds, args.connections, args.header))
    print(f"requests/s: {rate:.1f}")


if __name__ == "__main__":
    main()
