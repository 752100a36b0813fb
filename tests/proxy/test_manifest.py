"""The Kubernetes manifest for a CLB TCP listener with PROXY protocol v2 (examples/layer4/clb-proxy-protocol.yaml):
well formed, every setting from its ConfigMap valid for the real policy, placeholders marked, and the container's own
command line serving with those settings."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from typing import Any

import yaml

from realip_toa.proxy_listener import ProxyProtocolPolicy
from tests.servers import REPO, python, run_server

MANIFEST = REPO / "examples" / "layer4" / "clb-proxy-protocol.yaml"


def objects() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text("utf-8")) if doc}


def container() -> dict[str, Any]:
    (found,) = objects()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return found  # type: ignore[no-any-return]


def environment() -> dict[str, str]:
    data = objects()["ConfigMap"]["data"]
    env = {}
    for entry in container()["env"]:
        ref = entry["valueFrom"]["configMapKeyRef"]
        assert ref["name"] == objects()["ConfigMap"]["metadata"]["name"] and ref["key"] == entry["name"]
        env[entry["name"]] = data[ref["key"]]
    return env


def test_the_manifest_is_complete_and_its_settings_are_valid() -> None:
    found = objects()
    assert set(found) == {"ConfigMap", "Deployment", "Service"}
    env = environment()
    assert set(env) == set(found["ConfigMap"]["data"])  # every setting reaches the container
    policy = ProxyProtocolPolicy.from_env(env)
    assert policy.is_trusted("10.0.3.4") and not policy.is_trusted("203.0.113.9")
    assert policy.migrate_until is None and policy.untrusted == "serve"
    service = found["Service"]
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert service["metadata"]["annotations"]["service.kubernetes.io/tke-existed-lbid"].startswith("lb-")
    assert service["spec"]["selector"].items() <= found["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    text = MANIFEST.read_text("utf-8")
    for line in text.splitlines():
        if re.search(r"\d+\.\d+\.\d+\.\d+/\d+", line) and "100.64.0.0/10" not in line:
            assert "# replace with your" in line, line
    assert "UNCONFIRMED" in text  # what we could not confirm is said to be so


def test_the_containers_command_serves_with_the_manifests_settings() -> None:
    spec = container()
    args = [str(arg) for arg in spec["args"]]
    args[args.index("--host") + 1] = "{host}"
    args[args.index("--port") + 1] = "{port}"
    assert spec["command"] == ["python", "-m", "uvicorn"]
    with run_server(
        python("-m", "uvicorn", *args),
        env=environment(),
        cwd=REPO / "examples",  # stands in for the image, where proxy_protocol_app.py is copied
        ready_log="Uvicorn running on http://{host}:{port}",
    ) as server:
        with urllib.request.urlopen(f"{server.url}/", timeout=5) as response:  # a direct client: not the CLB
            answer = json.loads(response.read())
        assert (answer["client_ip"], answer["source"], answer["layer4"]) == ("127.0.0.1", "peer", None)
        with socket.create_connection((server.host, server.port), timeout=5) as sock:  # a header from it: refused
            sock.sendall(b"PROXY TCP4 192.0.2.66 127.0.0.1 1 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100) == b""
