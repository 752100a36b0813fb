"""The C twin of the resolver's common path gives the same Result as Python on every request it takes."""

from __future__ import annotations

import ipaddress
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import realip.resolver
from realip import Resolver
from tests.speedups.reference import PythonOnly, check_environ, check_scope, check_toa, references
from tests.speedups.requests import ENTRIES, NAMES, PEERS, PORT_TEXTS, random_environ, random_request, random_scope

REPO = Path(__file__).resolve().parent.parent.parent
TRUST = ("10.0.0.0/8", "100.64.0.0/10", "2001:db8:f::/48")


def c_twin() -> Any:
    """The compiled module; its absence is a failure (the build must produce it), never a skip."""
    from realip import _speedups  # type: ignore[attr-defined]

    return _speedups


def test_the_c_twin_is_built_and_used() -> None:
    c_twin()
    assert realip.resolver.IMPLEMENTATION == "c"


def test_realip_pure_forces_the_python_path() -> None:
    code = "import realip.resolver as r; print(r.IMPLEMENTATION)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "REALIP_PURE": "1"})  # fmt: skip
    assert out.stdout.strip() == "python"


def compare(resolver: Resolver, peer: str, port: object, headers: list[Any]) -> bool:
    """C's answer (if it takes the request) equals the general Python path's; returns whether C took it."""
    answer = resolver._c_fast.resolve((peer, port), headers)
    if answer is None:
        return False
    assert answer == resolver.resolve((peer, port), tuple(headers))  # a tuple takes the general path
    assert type(answer) is realip.Result
    return True


@pytest.mark.parametrize("max_hops", [1, 2, 3, 20])
def test_seeded_requests_agree(max_hops: int) -> None:
    resolver = Resolver(trusted_proxies=TRUST, max_hops=max_hops)
    rng = random.Random(max_hops)
    taken = sum(compare(resolver, *random_request(rng)) for _ in range(4000))
    assert taken > 600  # a good share of the requests are on the C twin's ground


@settings(max_examples=max(500, settings.default.max_examples))
@given(
    st.sampled_from(PEERS),
    st.one_of(st.integers(0, 65535), st.none()),
    st.lists(
        st.tuples(st.sampled_from(NAMES[:5]), st.lists(st.sampled_from(ENTRIES), max_size=10).map(",".join)),
        max_size=3,
    ),
    st.integers(1, 6),
    st.sampled_from([TRUST, ("0.0.0.0/0",), (), ("10.0.0.0/9", "10.128.0.0/9"), ("198.51.100.7",)]),
)
def test_generated_requests_agree(
    peer: str, port: int | None, headers: list[tuple[Any, str]], max_hops: int, trust: tuple[str, ...]
) -> None:
    resolver = Resolver(trusted_proxies=trust, max_hops=max_hops)
    encoded = [(name, value.encode("utf-8") if isinstance(name, bytes) else value) for name, value in headers]
    compare(resolver, peer, port, encoded)


def spellings(ip: ipaddress.IPv6Address) -> st.SearchStrategy[str]:
    return st.sampled_from([str(ip), ip.exploded, ip.exploded.upper(), f"[{ip}]", f"[{ip}]:443", f"[{ip.exploded}]:1"])


@settings(max_examples=max(500, settings.default.max_examples))
@given(
    st.lists(st.ip_addresses(v=6).flatmap(spellings), min_size=1, max_size=4),
    st.ip_addresses(v=6),
    st.sampled_from([TRUST, ("::/0",), ("2001:db8::/32", "::ffff:0:0/96"), ("0.0.0.0/0",)]),
)
def test_ipv6_entries_and_peers_agree(entries: list[str], peer: ipaddress.IPv6Address, trust: tuple[str, ...]) -> None:
    """RFC 5952 text, IPv4-mapped to IPv4, 128-bit trust tests: the C twin's IPv6 matches Python's."""
    resolver = Resolver(trusted_proxies=trust, max_hops=5)
    for host in (str(peer), peer.exploded, "10.0.1.2"):
        compare(resolver, host, 8080, [(b"x-forwarded-for", ", ".join(entries).encode())])


@given(st.binary(max_size=200), st.text(max_size=40))
def test_any_bytes_never_crash_or_disagree(raw: bytes, text: str) -> None:
    resolver = Resolver(trusted_proxies=TRUST)
    compare(resolver, "10.0.1.2", 80, [(b"x-forwarded-for", raw)])
    compare(resolver, "10.0.1.2", 80, [("x-forwarded-for", text)])


def test_long_headers_are_bounded_by_max_hops() -> None:
    resolver = Resolver(trusted_proxies=TRUST)
    answer = resolver._c_fast.resolve(("10.0.1.2", 80), [(b"x-forwarded-for", b"10.0.0.1, " * 200_000)])
    assert (answer.client_ip, answer.reason, answer.examined) == ("10.0.0.1", "hop-limit", 20)


CONFIGS = [TRUST, ("0.0.0.0/0",), (), ("10.0.0.0/9", "10.128.0.0/9"), ("198.51.100.7",), ("::/0", "10.0.0.0/8")]


@pytest.mark.parametrize("kind", ["scope", "environ"])
@pytest.mark.parametrize("trust", CONFIGS)
def test_seeded_requests_are_rewritten_as_python_does(kind: str, trust: tuple[str, ...]) -> None:
    fast, asgi, wsgi = references(trusted_proxies=trust, max_hops=3)
    rng = random.Random(len(trust))
    if kind == "scope":
        taken = sum(check_scope(fast, asgi, random_scope(rng)) for _ in range(3000))
    else:
        taken = sum(check_environ(fast, wsgi, random_environ(rng)) for _ in range(3000))
    assert taken > 600


@settings(max_examples=max(300, settings.default.max_examples))
@given(
    st.sampled_from(PEERS),
    st.sampled_from(PORT_TEXTS),
    st.one_of(st.none(), st.lists(st.sampled_from(ENTRIES), max_size=6).map(", ".join), st.text(max_size=30)),
    st.sampled_from(CONFIGS),
)
def test_generated_environs_agree(peer: str, port: object, header: str | None, trust: tuple[str, ...]) -> None:
    fast, _, wsgi = references(trusted_proxies=trust, max_hops=4)
    environ: dict[str, object] = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http"}
    if port is not None:
        environ["REMOTE_PORT"] = port
    if header is not None:
        environ["HTTP_X_FORWARDED_FOR"] = header
    check_environ(fast, wsgi, environ)


TOA_HOSTS = ["198.51.100.7", "100.64.3.4", "10.9.9.9", "2001:db8::7", "2001:DB8:0::7", "::ffff:198.51.100.7",
             "[2001:db8::7]", "198.51.100.7:80", "010.1.1.1", "", "x", "2001:db8:f::9"]  # fmt: skip


@settings(max_examples=max(500, settings.default.max_examples))
@given(
    st.sampled_from(PEERS),
    st.one_of(st.integers(0, 65535), st.none(), st.just("80"), st.just(True)),
    st.sampled_from(TOA_HOSTS),
    st.one_of(st.integers(0, 65535), st.none(), st.just(True)),
    st.sampled_from(CONFIGS),
)
def test_toa_answers_agree(peer: str, port: object, toa_host: str, toa_port: object, trust: tuple[str, ...]) -> None:
    fast = Resolver(trusted_proxies=trust)._c_fast
    check_toa(fast, PythonOnly(trusted_proxies=trust), (peer, port), (toa_host, toa_port))


def test_toa_is_taken_by_c_in_the_common_case_only() -> None:
    fast = Resolver(trusted_proxies=TRUST)._c_fast
    reference = PythonOnly(trusted_proxies=TRUST)
    assert check_toa(fast, reference, ("10.0.1.2", 51234), ("198.51.100.7", 40123))  # the L4 load balancer's case
    assert check_toa(fast, reference, ("10.0.1.2", 51234), ("2001:DB8::7", None))
    assert fast.resolve_toa(("203.0.113.9", 1), ("198.51.100.7", 2)) is None  # untrusted peer: Python's
    assert fast.resolve_toa(("10.0.1.2", 1), ("100.64.3.4", 2)) is None  # trusted TOA address: a walk, Python's
    assert fast.resolve_toa(("10.0.1.2", 1), ["198.51.100.7", 2]) is None


def test_rewrites_write_what_the_adapters_promise() -> None:
    """Pinned examples: the client, the port (kept, replaced, removed), state, orig, with and without a header."""
    fast, _, _ = references(trusted_proxies=TRUST)
    scope = {"type": "http", "client": ("10.0.1.2", 4000), "headers": [(b"x-forwarded-for", b"198.51.100.7:81")]}
    result = fast.rewrite_scope(scope)
    assert scope["client"] == ("198.51.100.7", 81) and scope["state"] == {"realip": result}
    scope = {"type": "websocket", "client": ("10.0.1.2", 4000), "headers": [], "state": {"a": 1}}
    result = fast.rewrite_scope(scope)
    assert scope["client"] == ("10.0.1.2", 4000) and scope["state"] == {"a": 1, "realip": result}
    assert result.reason == "no-header"
    assert fast.rewrite_scope({"type": "lifespan"}) is None
    environ = {"REMOTE_ADDR": "10.0.1.2", "REMOTE_PORT": "4000", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    result = fast.rewrite_environ(environ)
    orig = {"REMOTE_ADDR": "10.0.1.2", "REMOTE_PORT": "4000", "wsgi.url_scheme": None}
    assert environ == {
        "REMOTE_ADDR": "198.51.100.7",
        "HTTP_X_FORWARDED_FOR": "198.51.100.7",
        "realip.result": result,
        "realip.orig": orig,
    }
    environ = {"REMOTE_ADDR": "203.0.113.9", "REMOTE_PORT": "4000", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    result = fast.rewrite_environ(environ)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"], result.reason) == ("203.0.113.9", "4000", "untrusted-peer")
    environ = {"REMOTE_ADDR": "10.0.1.2", "REMOTE_PORT": "4000", "HTTP_X_FORWARDED_FOR": "[2001:db8::7]:4711"}
    fast.rewrite_environ(environ)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("2001:db8::7", "4711")


def test_c_twin_is_valgrind_clean(tmp_path: Path) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.fail("valgrind is required for this test: apt-get install -y valgrind")
    log_path = tmp_path / "valgrind.log"
    env = {**os.environ, "PYTHONMALLOC": "malloc", "PYTHONPATH": str(REPO)}
    env.pop("REALIP_PURE", None)
    run = subprocess.run(
        [valgrind, "--leak-check=full", "--show-leak-kinds=definite", f"--log-file={log_path}",
         sys.executable, "-m", "tests.speedups.driver", "1500"],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    log = log_path.read_text()
    records = re.split(r"==\d+== \n", log)
    ours = [r for r in records if "_speedups" in r and ("Invalid" in r or "uninitialised" in r or "lost" in r)]
    assert not ours, "valgrind errors in realip/_speedups.c:\n" + "\n".join(ours)


def test_c_twin_under_address_sanitizer(tmp_path: Path) -> None:
    """Build the extension with ASan and UBSan and run seeded requests and random bytes through it."""
    import sysconfig

    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required for this test: apt-get install -y gcc")
    built = tmp_path / ("_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))
    compile_ = subprocess.run(
        [gcc, "-shared", "-fPIC", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         "-fno-omit-frame-pointer", f"-I{sysconfig.get_paths()['include']}", str(REPO / "realip" / "_speedups.c"),
         "-o", str(built)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compile_.returncode == 0, compile_.stderr
    runtime = [
        subprocess.run([gcc, f"-print-file-name={lib}"], capture_output=True, text=True, check=True).stdout.strip()
        for lib in ("libasan.so", "libubsan.so")
    ]
    env = {**os.environ, "LD_PRELOAD": ":".join(runtime), "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
           "PYTHONPATH": str(REPO), "PYTHONMALLOC": "malloc"}  # fmt: skip  (malloc: ASan sees every free)
    run = subprocess.run([sys.executable, "-m", "tests.speedups.driver", "6000", str(built)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=REPO)  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "0 failures" in run.stdout
