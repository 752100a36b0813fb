"""The kernel (realip/_kernel.c) gives the pure twin's answers (realip/_walk.py) on every input, and is memory-safe.

The pure twin is the reference; these tests compare the two on seeded and generated input, run both through whole
Resolvers, and run the kernel under valgrind, AddressSanitizer and libFuzzer.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import realip
from realip import Resolver
from realip._walk import PureTrust
from tests.kernel.driver import STARTS
from tests.kernel.inputs import CONFIGS, ENTRIES, on, random_request, random_value, trusts
from tests.memcheck import assert_clean

REPO = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
FUZZ_SECONDS = int(os.environ.get("REALIP_KERNEL_FUZZ_SECONDS", "20"))


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is required for this test: apt-get install -y {package}")
    return path


PURE = os.environ.get("REALIP_PURE", "") not in ("", "0")  # CI runs the whole suite once more on the pure twin


def test_the_kernel_is_built_and_used_unless_the_pure_twin_is_asked_for() -> None:
    from realip import _kernel  # its absence is a failure: the build must make it

    assert realip.IMPLEMENTATION == ("python" if PURE else "c")
    assert type(Resolver()._trust) is (PureTrust if PURE else _kernel.Trust)


def test_realip_pure_forces_the_python_twin() -> None:
    code = "import realip; from realip import Resolver; print(realip.IMPLEMENTATION, type(Resolver()._trust).__name__)"
    env = {**os.environ, "REALIP_PURE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=60)
    assert out.stdout.split() == ["python", "PureTrust"]


def test_without_the_kernel_import_warns_once_and_walks_in_python() -> None:
    code = (
        "import sys, warnings\n"
        "sys.modules['realip._kernel'] = None  # as if the install could not compile it\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import realip\n"
        "    from realip import Resolver\n"
        "    answer = Resolver(trusted_proxies=['10.0.0.0/8']).resolve('10.0.0.1', {'X-Forwarded-For': '192.0.2.7'})\n"
        "print(realip.IMPLEMENTATION, answer.client_ip, len(caught))\n"
        "print(caught[0].category.__name__, caught[0].message)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "REALIP_PURE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60)
    first, second = out.stdout.splitlines()
    assert first == "python 192.0.2.7 1"
    assert second.startswith("RuntimeWarning") and "REALIP_PURE=1" in second and "python3-dev" in second


@pytest.mark.parametrize("entries", CONFIGS, ids=repr)
def test_every_listed_entry_agrees(entries: tuple[str, ...]) -> None:
    kernel, pure = trusts(entries)
    for text in ENTRIES:
        assert kernel.entry(text) == pure.entry(text), text
        assert kernel.entry(text.encode("utf-8", "surrogatepass")) == pure.entry(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("entries", CONFIGS, ids=repr)
def test_seeded_values_agree(entries: tuple[str, ...]) -> None:
    kernel, pure = trusts(entries)
    rng = random.Random(repr(entries))
    ends = set()
    for _ in range(3000):
        value, budget, start = random_value(rng), rng.randrange(0, 12), rng.choice(STARTS)
        found = kernel.walk(value, budget, start)
        assert found == pure.walk(value, budget, start), (value, budget, start)
        ends.add(found[1])
    assert ends == {"end", "untrusted", "invalid", "limit"} or entries in (("any",), ())  # every way out was taken


@settings(max_examples=max(500, settings.default.max_examples))
@given(
    st.one_of(st.binary(max_size=120), st.text(max_size=60)),
    st.integers(0, 30),
    st.sampled_from(CONFIGS),
    st.sampled_from(STARTS),
)
def test_any_bytes_or_text_agree(value: Any, budget: int, entries: tuple[str, ...], start: str | None) -> None:
    kernel, pure = trusts(entries)
    assert kernel.walk(value, budget, start) == pure.walk(value, budget, start)
    assert kernel.entry(value) == pure.entry(value)


def spellings(ip: ipaddress.IPv6Address) -> st.SearchStrategy[str]:
    return st.sampled_from([str(ip), ip.exploded, ip.exploded.upper(), f"[{ip}]", f"[{ip}]:443", f'"[{ip}]:1"'])


@settings(max_examples=max(500, settings.default.max_examples))
@given(
    st.lists(st.one_of(st.ip_addresses(v=6).flatmap(spellings), st.ip_addresses(v=4).map(str)), max_size=6),
    st.sampled_from(CONFIGS),
)
def test_ipv6_text_and_trust_agree(entries: list[str], config: tuple[str, ...]) -> None:
    """RFC 5952 text, IPv4-mapped to IPv4, 128-bit trust tests: the kernel's IPv6 is the twin's."""
    kernel, pure = trusts(config)
    value = ", ".join(entries)
    assert kernel.walk(value, 10, "10.0.0.1") == pure.walk(value, 10, "10.0.0.1")


@pytest.mark.parametrize("entries", CONFIGS[:3], ids=repr)
def test_whole_resolvers_agree_on_each_implementation(entries: tuple[str, ...]) -> None:
    """Every request form through a Resolver on the kernel and one on the twin: the same Result."""
    kernel, pure = trusts(entries)
    rng = random.Random(7)
    for max_hops, proto in ((1, None), (3, "x-forwarded-proto"), (20, "forwarded")):
        on_kernel = on(Resolver(trusted_proxies=entries, max_hops=max_hops, proto_header=proto), kernel)
        on_pure = on(Resolver(trusted_proxies=entries, max_hops=max_hops, proto_header=proto), pure)
        for _ in range(1500):
            peer, headers = random_request(rng)
            assert on_kernel.resolve(peer, headers) == on_pure.resolve(peer, headers), (peer, headers)


def test_walk_examines_at_most_the_budget_of_a_long_value() -> None:
    kernel, _ = trusts(CONFIGS[0])
    start = "10.0.0.9"
    assert kernel.walk(b"10.0.0.1, " * 200_000, 20, start) == (
        20,
        "limit",
        "10.0.0.1",
        None,
        ("10.0.0.9",) + ("10.0.0.1",) * 19,
    )
    assert kernel.walk("," * 1_000_000 + "10.0.0.1", 20, start) == (1, "end", "10.0.0.1", None, ("10.0.0.9",))
    assert kernel.walk(", 198.51.100.7" + "," * 1_000_000, 0, start) == (0, "limit", None, None, ())


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("1.2.3.4", -1, None), ValueError),
        (("1.2.3.4", 1001, None), ValueError),
        ((7, 1, None), TypeError),
        (("1.2.3.4", 1), TypeError),
    ],
)
def test_misuse_is_an_error_not_a_crash(args: tuple[Any, ...], error: type[Exception]) -> None:
    kernel, _ = trusts(CONFIGS[0])
    with pytest.raises(error):
        kernel.walk(*args)


def test_kernel_is_valgrind_clean(tmp_path: Path) -> None:
    """No error or leak in the kernel's frames, none growing with the calls, none at all before 3.12."""
    valgrind = tool("valgrind", "valgrind")
    env = {**os.environ, "PYTHONMALLOC": "malloc", "PYTHONPATH": str(REPO)}
    env.pop("REALIP_PURE", None)
    spec = importlib.util.find_spec("realip._kernel")
    assert spec is not None and spec.origin is not None, "the kernel realip._kernel was not built"
    assert_clean(
        valgrind, tmp_path, ["-m", "tests.kernel.driver", "300"], source=REPO / "realip" / "_kernel.c",
        library=Path(spec.origin).name, env=env, cwd=REPO, timeout=600,
    )  # fmt: skip


def test_kernel_under_address_sanitizer(tmp_path: Path) -> None:
    """Build the kernel with ASan and UBSan and run seeded input, random bytes and mid-call finalizers through it."""
    gcc = tool("gcc", "gcc")
    built = tmp_path / ("_kernel" + sysconfig.get_config_var("EXT_SUFFIX"))
    compile_ = subprocess.run(
        [gcc, "-shared", "-fPIC", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror", f"-I{sysconfig.get_paths()['include']}",
         str(REPO / "realip" / "_kernel.c"), "-o", str(built)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compile_.returncode == 0, compile_.stderr
    runtime = [
        subprocess.run([gcc, f"-print-file-name={lib}"], capture_output=True, text=True, check=True).stdout.strip()
        for lib in ("libasan.so", "libubsan.so")
    ]
    env = {
        **os.environ,
        "LD_PRELOAD": ":".join(runtime),
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "PYTHONPATH": str(REPO),
        "PYTHONMALLOC": "malloc",
    }  # fmt: skip  (malloc: ASan sees every free)
    run = subprocess.run([sys.executable, "-m", "tests.kernel.driver", "1500", str(built)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=REPO)  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert " 0 failures" in run.stdout


def test_kernel_fuzzed_under_asan(tmp_path: Path) -> None:
    """libFuzzer on the kernel alone (no Python): bounds, canonical text as a fixed point, trust vs a linear scan."""
    clang = tool("clang", "clang libclang-rt-14-dev")
    binary = tmp_path / "fuzz_kernel"
    build = subprocess.run(
        [clang, "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=fuzzer,address,undefined",
         "-fno-sanitize-recover=all", str(HERE / "fuzz_kernel.c"), "-o", str(binary)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert build.returncode == 0, f"fuzz harness did not build (apt-get install libclang-rt-14-dev?):\n{build.stderr}"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, entry in enumerate(ENTRIES):
        (corpus / f"seed{index}").write_bytes(f"192.0.2.1, {entry}, 10.0.0.1".encode("utf-8", "surrogatepass"))
    run = subprocess.run(
        [str(binary), f"-max_total_time={FUZZ_SECONDS}", "-max_len=512", "-timeout=5", "-rss_limit_mb=1024",
         str(corpus)],
        capture_output=True, text=True, timeout=FUZZ_SECONDS + 60, cwd=tmp_path,
    )  # fmt: skip
    log = run.stderr[-4000:]
    assert run.returncode == 0, f"libFuzzer found a problem:\n{log}"
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done is not None and int(done.group(1)) > 10_000, log
