"""The lab's HTTP client, run inside a namespace: ``python -m tests.lab.client`` reads a JSON list on stdin, writes one.

Each request is ``{"id", "source", "host", "port", "path", "headers", "tls"}`` (``tls``: HTTPS, the certificate not
verified: the lab's CLB signs its own); the answer ``{"id", "status", "body", "received", "error"}`` (``body`` parsed
as JSON when it is, ``received`` the lab probe's ``X-Lab-Received`` header parsed: the forwarding headers that
reached the app). ``--wait`` instead polls each ``host``/``port`` until it answers HTTP (bounded by ``--timeout``),
so the tests know every server is up before sending traffic.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import sys
import time
from typing import Any


def fetch(request: dict[str, Any]) -> dict[str, Any]:
    """One GET from the given source address; errors come back as data, never as an exception."""
    answer: dict[str, Any] = {"id": request.get("id"), "status": None, "body": None, "received": None, "error": None}
    source = request.get("source")
    address = (source, 0) if source else None
    connection: http.client.HTTPConnection
    if request.get("tls"):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            request["host"], int(request["port"]), timeout=10, source_address=address, context=context
        )
    else:
        connection = http.client.HTTPConnection(
            request["host"], int(request["port"]), timeout=10, source_address=address
        )
    try:
        connection.request(
            "GET", request.get("path", "/"), headers={"Accept": "application/json", **request.get("headers", {})}
        )
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        answer["status"] = response.status
        received = response.getheader("x-lab-received")
        answer["received"] = json.loads(received) if received else None
        try:
            answer["body"] = json.loads(text)
        except ValueError:
            answer["body"] = text
    except OSError as error:
        answer["error"] = f"{type(error).__name__}: {error}"
    finally:
        connection.close()
    return answer


def wait(targets: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Poll every target until it answers (any status); return those that never did."""
    deadline = time.monotonic() + timeout
    pending = list(targets)
    while pending and time.monotonic() < deadline:
        pending = [target for target in pending if fetch({**target, "path": "/?rid=ready"})["status"] is None]
        if pending:
            time.sleep(0.1)
    return pending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wait", action="store_true", help="poll the targets until they answer")
    parser.add_argument("--timeout", type=float, default=20.0)
    options = parser.parse_args()
    requests = json.load(sys.stdin)
    out = wait(requests, options.timeout) if options.wait else [fetch(request) for request in requests]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
