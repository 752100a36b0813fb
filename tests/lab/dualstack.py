"""Exec a server on a dual-stack listening socket: ``python -m tests.lab.dualstack PORT ARGV...``, ``{fd}`` in ARGV.

uvicorn's ``--host ::`` listens on IPv6 only (asyncio sets IPV6_V6ONLY), but the lab's pod serves IPv4 and IPv6
clients on one port, as a pod listening on ``[::]`` does. So this binds ``[::]:PORT`` with IPV6_V6ONLY off (and
TCP_NODELAY on), inside the namespace it runs in, and hands the socket down (``uvicorn --fd {fd}``).
"""

from __future__ import annotations

import os
import socket
import sys


def main() -> None:
    port, argv = int(sys.argv[1]), sys.argv[2:]
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    # uvicorn --fd wraps the socket as AF_UNIX, so asyncio never sets TCP_NODELAY on the connections it accepts;
    # set on the listener, Linux copies it to each accepted socket (without it: 40 ms delayed-ACK stalls).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind(("::", port))
    listener.listen(1024)
    listener.set_inheritable(True)
    os.execv(argv[0], [arg.replace("{fd}", str(listener.fileno())) for arg in argv])


if __name__ == "__main__":
    main()
