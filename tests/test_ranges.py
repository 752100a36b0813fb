"""Provider presets: the shipped snapshots, presets as named sets, REALIP_RANGES_DIR, and `realip ranges update`
against a local HTTP server serving each provider's format, including malformed, empty and shrunk answers."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import json
import logging
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import realip.ranges as ranges
from realip import ConfigError, Resolver
from realip.ranges import PRESETS, check_networks, load
from realip.ranges.update import MAX_BYTES, UpdateError, UpdateReport, parse_answer, update

TODAY = datetime.date(2026, 11, 27)
#: An address inside each preset, and one outside all of them.
INSIDE = {
    "cloudflare": ("162.158.1.2", "2606:4700::6810:84e5"),
    "fastly": ("151.101.1.57", "2a04:4e42::1"),
    "cloudfront": ("13.32.1.2", "130.176.0.9"),
}
OUTSIDE = "203.0.113.50"


@pytest.fixture(autouse=True)
def _no_ranges_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests choose REALIP_RANGES_DIR themselves, whatever the developer's shell sets."""
    monkeypatch.delenv("REALIP_RANGES_DIR", raising=False)


# -- the shipped snapshots -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_ships_a_dated_snapshot_with_its_source(name: str) -> None:
    snapshot = load(name, {})
    assert snapshot.shipped and snapshot.name == name
    assert snapshot.source == " ".join(PRESETS[name].urls)
    assert datetime.date.fromisoformat(snapshot.fetched) >= datetime.date(2026, 7, 2)
    assert snapshot.note and "CC0" in snapshot.note  # where the shipped content was transcribed from
    assert check_networks(snapshot.networks, name) == snapshot.networks  # canonical, sorted, every one valid
    raw = json.loads(Path(snapshot.path).read_text(encoding="utf-8"))
    assert list(raw) == ["name", "source", "fetched", "note", "networks"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_preset_is_a_named_set_of_trusted_proxies(name: str) -> None:
    resolver = Resolver(trusted_proxies=[name.capitalize()])  # names are case-insensitive, like the others
    for edge in INSIDE[name]:
        result = resolver.resolve(edge, {"x-forwarded-for": "198.51.100.7"})
        assert (result.client_ip, result.reason) == ("198.51.100.7", "untrusted-entry")
    forged = resolver.resolve(OUTSIDE, {"x-forwarded-for": "198.51.100.7"})  # a direct client forging the header
    assert (forged.client_ip, forged.reason) == (OUTSIDE, "untrusted-peer")


def test_a_preset_combines_with_other_entries_and_with_layer4_proxies() -> None:
    resolver = Resolver(trusted_proxies=["private", "cloudflare"], layer4_proxies=["cloudfront"])
    assert "162.158.0.0/15" in resolver.trusted_proxies and "10.0.0.0/8" in resolver.trusted_proxies
    assert "13.32.0.0/15" in resolver.layer4_proxies and "13.32.0.0/15" not in resolver.trusted_proxies
    # Cloudflare, then the ingress (10.x): both hops believed.
    result = resolver.resolve("10.1.2.3", {"x-forwarded-for": "198.51.100.7, 162.158.1.2"})
    assert (result.client_ip, result.proxies) == ("198.51.100.7", ("10.1.2.3", "162.158.1.2"))


def test_an_unknown_name_lists_the_presets_among_the_accepted_forms() -> None:
    with pytest.raises(ConfigError, match=r"trusted_proxies\[0\]='cloudflar' is not .*cgnat, unix, cloudflare, fastly"):
        Resolver(trusted_proxies=["cloudflar"])


def test_import_reads_no_snapshot_and_only_a_named_preset_is_read() -> None:
    code = (
        "import sys, realip, realip.cli, realip.ranges as r; "
        "assert not r._loaded, r._loaded; "
        "realip.Resolver(trusted_proxies=['private']); assert not r._loaded; "
        "realip.Resolver(trusted_proxies=['fastly']); print(sorted(r._loaded)); "
        "print('realip.ranges.update' in sys.modules, 'urllib.request' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["['fastly']", "False", "False"]  # never fetched, nor able to fetch, at start-up


# -- checking networks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("10.0.0.0/8", "reaches into a private"),
        ("100.64.0.0/16", "reaches into a private, loopback, link-local, CGNAT"),
        ("fe80::/64", "reaches into"),
        ("::1/128", "reaches into"),
        ("::ffff:0:0/96", "is not a CIDR network"),  # an IPv4-mapped network: lists write IPv4 as IPv4
        ("224.0.0.0/8", "reaches into"),
        ("0.0.0.0/0", r"wider than /8"),
        ("2000::/3", r"wider than /16"),
        ("198.51.100.7/24", r"host bits set \(the network is '198.51.100.0/24'\)"),
        ("198.51.100.0", "is not a CIDR network"),
        ("198.51.100.0/33", "is not a CIDR network"),
        ("[2001:db8::]/32", "is not a CIDR network"),
        ("::ffff:198.51.100.0/120", "is not a CIDR network"),
        ("198.51.100.0/024x", "is not a CIDR network"),
        (24, "is not a CIDR network"),
    ],
)
def test_a_bad_network_is_refused_naming_it(entry: object, why: str) -> None:
    with pytest.raises(ValueError, match=r"^where: networks\[1\]=" + re.escape(repr(entry)) + f" .*{why}"):
        check_networks(["198.51.100.0/24", entry], "where")


def test_networks_are_canonical_sorted_and_deduplicated() -> None:
    networks = check_networks(["2001:DB8::/32", "198.51.100.0/24", "192.0.2.0/24", "198.51.100.0/24"], "x")
    assert networks == ("192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32")


# -- REALIP_RANGES_DIR ---------------------------------------------------------------------------------------------


def write_snapshot(directory: Path, name: str, fetched: str, networks: list[str], **extra: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    data = {"name": name, "source": "https://example.test/list", "fetched": fetched, "networks": networks, **extra}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_an_updated_snapshot_is_used_when_it_is_newer_than_the_shipped_one(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, "fastly", "2026-11-01", ["151.101.0.0/16", "146.75.0.0/17"])
    snapshot = load("fastly", {"REALIP_RANGES_DIR": str(tmp_path)}, today=TODAY)
    assert (snapshot.path, snapshot.shipped, snapshot.networks) == (
        str(path),
        False,
        ("146.75.0.0/17", "151.101.0.0/16"),
    )
    write_snapshot(tmp_path, "fastly", "2026-01-01", ["151.101.0.0/16"])  # older than the shipped one: ignored
    assert load("fastly", {"REALIP_RANGES_DIR": str(tmp_path)}, today=TODAY).shipped
    assert load("cloudflare", {"REALIP_RANGES_DIR": str(tmp_path)}, today=TODAY).shipped  # no file there: shipped


def test_the_resolver_reads_realip_ranges_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_snapshot(tmp_path, "cloudflare", "2026-11-20", ["198.51.100.0/24"])
    monkeypatch.setenv("REALIP_RANGES_DIR", str(tmp_path))
    resolver = Resolver(trusted_proxies=["cloudflare"])
    assert resolver.trusted_proxies == ("198.51.100.0/24",)
    (use,) = ranges.describe(resolver, TODAY)
    assert (use.option, use.snapshot.fetched, use.age_days, use.snapshot.shipped) == (
        "trusted_proxies",
        "2026-11-20",
        7,
        False,
    )
    assert use.text().endswith(f"snapshot of 2026-11-20 (7 days old, from {tmp_path / 'cloudflare.json'})")


def _snap(**changes: object) -> str:
    data: dict[str, object] = {"name": "fastly", "source": "s", "fetched": "2026-11-01", "networks": ["1.0.0.0/24"]}
    data.update(changes)
    return json.dumps({key: value for key, value in data.items() if value is not None})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "is not JSON"),
        (_snap(networks=None), "has no networks"),
        (_snap(name="cloudflare"), "named 'cloudflare', not 'fastly'"),
        (_snap(fetched="yesterday"), "fetched='yesterday' is not a date"),
        (_snap(networks=[]), "holds no network"),
        (_snap(networks=["10.0.0.0/8"]), "reaches into a private"),
        (_snap(source=""), "source='' is not"),
    ],
)
def test_a_bad_updated_snapshot_stops_start_up_naming_the_file(tmp_path: Path, content: str, why: str) -> None:
    (tmp_path / "fastly.json").write_text(content, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REALIP_RANGES_DIR", str(tmp_path))
        with pytest.raises(
            ConfigError, match=rf"trusted_proxies\[0\]='fastly' names a preset realip cannot load: .*fastly.json.*{why}"
        ):
            Resolver(trusted_proxies=["fastly"])


def test_realip_ranges_dir_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"REALIP_RANGES_DIR='.*missing' is not a directory"):
        load("fastly", {"REALIP_RANGES_DIR": str(tmp_path / "missing")})


def test_a_stale_snapshot_warns_once_how_to_refresh_it(caplog: pytest.LogCaptureFixture) -> None:
    ranges._warned_stale.clear()
    with caplog.at_level(logging.WARNING, logger="realip"):
        load("fastly", {}, today=datetime.date(2027, 6, 1))
        load("fastly", {}, today=datetime.date(2027, 6, 1))
        load("cloudflare", {}, today=TODAY)  # 148 days: not stale
    (record,) = caplog.records
    assert "fastly preset is a snapshot of 2026-07-02, 334 days old" in record.getMessage()
    assert "realip ranges update fastly" in record.getMessage()


def test_describe_names_only_the_presets_a_resolver_trusts() -> None:
    load("cloudflare", {})
    load("cloudfront", {})
    assert ranges.describe(Resolver(trusted_proxies=["private"])) == []
    uses = ranges.describe(Resolver(trusted_proxies=["cloudflare"], layer4_proxies=["cloudfront"]), TODAY)
    assert [(use.option, use.snapshot.name) for use in uses] == [
        ("trusted_proxies", "cloudflare"),
        ("layer4_proxies", "cloudfront"),
    ]
    data = uses[0].as_dict()
    assert data["source"] == "https://www.cloudflare.com/ips-v4 https://www.cloudflare.com/ips-v6"
    assert (data["fetched"], data["age_days"], data["networks"], data["shipped"]) == ("2026-07-02", 148, 22, True)


# -- realip ranges update, against a local server ------------------------------------------------------------------

CF_V4 = "173.245.48.0/20\n103.21.244.0/22\n104.16.0.0/13\n104.24.0.0/14\n162.158.0.0/15\n172.64.0.0/13\n"
CF_V6 = "2400:cb00::/32\n2606:4700::/32\n"
CF_SORTED = ["103.21.244.0/22", "104.16.0.0/13", "104.24.0.0/14", "162.158.0.0/15", "172.64.0.0/13",
             "173.245.48.0/20", "2400:cb00::/32", "2606:4700::/32"]  # fmt: skip
FASTLY = {"addresses": ["151.101.0.0/16", "146.75.0.0/17", "199.232.0.0/16"], "ipv6_addresses": ["2a04:4e42::/32"]}
AWS = {
    "syncToken": "1764201600",
    "createDate": "2026-11-27-00-00-00",
    "prefixes": [
        {"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "AMAZON", "network_border_group": "GLOBAL"},
        {"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"},
        {"ip_prefix": "130.176.0.0/18", "region": "GLOBAL", "service": "CLOUDFRONT_ORIGIN_FACING",
         "network_border_group": "GLOBAL"},
        {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "EC2",
         "network_border_group": "ap-northeast-2"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2600:9000:1000::/36", "region": "GLOBAL", "service": "CLOUDFRONT",
         "network_border_group": "GLOBAL"},
        {"ipv6_prefix": "2600:1f00::/24", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
    ],
}  # fmt: skip
CF_API = {"result": {"ipv4_cidrs": CF_V4.split(), "ipv6_cidrs": CF_V6.split(), "etag": "x"}, "success": True,
          "errors": [], "messages": []}  # fmt: skip


def _json(data: object) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(data).encode()


def _text(text: str) -> tuple[int, str, bytes]:
    return 200, "text/plain", text.encode()


#: Path -> (status, content type, body): each provider's format, and the broken answers the safeguards refuse.
ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/ips-v4": _text(CF_V4),
    "/ips-v6": _text(CF_V6),
    "/client/v4/ips": _json(CF_API),
    "/client/v4/ips-failed": _json({"result": None, "success": False, "errors": [{"code": 10000}]}),
    "/public-ip-list": _json(FASTLY),
    "/ip-ranges.json": _json(AWS),
    "/fastly-shrunk-25": _json({"addresses": FASTLY["addresses"], "ipv6_addresses": []}),
    "/fastly-shrunk-75": _json({"addresses": ["151.101.0.0/16"], "ipv6_addresses": []}),
    "/fastly-merged": _json(
        {
            "addresses": ["151.101.0.0/17", "151.101.128.0/17", "146.75.0.0/17", "199.232.0.0/16", "43.249.72.0/22"],
            "ipv6_addresses": ["2a04:4e42::/32"],
        }
    ),
    "/fastly-empty": _json({"addresses": [], "ipv6_addresses": []}),
    "/fastly-wrong-shape": _json({"ips": ["151.101.0.0/16"]}),
    "/fastly-not-strings": _json({"addresses": [151], "ipv6_addresses": []}),
    "/fastly-private": _json({"addresses": [*FASTLY["addresses"], "10.0.0.0/8"], "ipv6_addresses": []}),
    "/fastly-everything": _json({"addresses": [*FASTLY["addresses"], "0.0.0.0/0"], "ipv6_addresses": []}),
    "/aws-no-prefixes": _json({"syncToken": "1"}),
    "/truncated.json": (200, "application/json", b'{"addresses": ["151.101.0.0/16", "146.75'),
    "/malformed-line": _text(CF_V4 + "104.16.0.0/13 # and more\n"),
    "/captive-portal": (200, "text/html", b"<!DOCTYPE html><html><body>Sign in to the Wi-Fi</body></html>"),
    "/empty": _text(""),
    "/comments-only": _text("# nothing here\n\n"),
    "/latin1": (200, "text/plain", "104.16.0.0/13\n\xe9\n".encode("latin-1")),
    "/big": _text("104.16.0.0/13\n" * 100),
    "/not-found": (404, "text/plain", b"no"),
    "/server-error": (500, "text/plain", b"oops"),
    "/no-content": (204, "text/plain", b""),
}
REDIRECTS = {"/moved": "/public-ip-list", "/downgrade": "http://203.0.113.1/public-ip-list"}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[self.path])
            self.end_headers()
            return
        status, kind, body = ANSWERS.get(self.path, (404, "text/plain", b"unknown"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


#: A small snapshot per preset, newer than the shipped ones, that the fixtures' answers cover: what the updates in
#: these tests replace (the shipped snapshots are far larger than the fixtures, so replacing them loses too much).
BASELINES = {"cloudflare": ["104.16.0.0/13"], "fastly": ["151.101.0.0/16"], "cloudfront": ["13.32.0.0/15"]}


@pytest.fixture
def directory(tmp_path: Path) -> dict[str, str]:
    """An environment whose REALIP_RANGES_DIR holds the :data:`BASELINES` snapshots of 2026-11-01."""
    for name, networks in BASELINES.items():
        write_snapshot(tmp_path / "ranges", name, "2026-11-01", networks)
    return {"REALIP_RANGES_DIR": str(tmp_path / "ranges")}


def run_update(name: str, server: str, *paths: str, env: dict[str, str], **options: object) -> UpdateReport:
    return update(name, [server + path for path in paths], environ=env, today=TODAY, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "paths", "expected"),
    [
        ("cloudflare", ("/ips-v4", "/ips-v6"), CF_SORTED),
        ("cloudflare", ("/client/v4/ips",), CF_SORTED),  # the API's JSON: the same networks
        ("fastly", ("/public-ip-list",), ["146.75.0.0/17", "151.101.0.0/16", "199.232.0.0/16", "2a04:4e42::/32"]),
        ("cloudfront", ("/ip-ranges.json",), ["13.32.0.0/15", "130.176.0.0/18", "2600:9000:1000::/36"]),
    ],
)  # fmt: skip
def test_update_reads_each_providers_format_and_writes_the_snapshot(
    server: str, directory: dict[str, str], name: str, paths: tuple[str, ...], expected: list[str]
) -> None:
    report = run_update(name, server, *paths, env=directory)
    path = Path(directory["REALIP_RANGES_DIR"]) / f"{name}.json"
    assert report.snapshot.path == str(path) and list(report.snapshot.networks) == expected
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written == {"name": name, "source": " ".join(server + p for p in paths), "fetched": "2026-11-27",
                       "networks": expected}  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(f"{n}.json" for n in PRESETS)  # no temporary file
    assert load(name, directory, today=TODAY).networks == tuple(expected)  # the app now reads it


def test_update_reports_what_changed_against_the_snapshot_it_replaces(server: str, directory: dict[str, str]) -> None:
    first = run_update("fastly", server, "/public-ip-list", env=directory)
    assert first.previous is not None and first.previous.fetched == "2026-11-01"
    assert (first.added, first.removed) == (("146.75.0.0/17", "199.232.0.0/16", "2a04:4e42::/32"), ())
    merged = run_update("fastly", server, "/fastly-merged", env=directory)  # a split loses no address
    assert merged.previous is not None and merged.previous.path == first.snapshot.path
    assert merged.added == ("43.249.72.0/22", "151.101.0.0/17", "151.101.128.0/17")
    assert merged.removed == ("151.101.0.0/16",)
    assert "+ 43.249.72.0/22" in merged.text() and "- 151.101.0.0/16" in merged.text()
    again = run_update("fastly", server, "/fastly-merged", env=directory)
    assert "unchanged since the snapshot of 2026-11-27" in again.text()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/fastly-empty", "no network at all; an empty list would trust nobody, refused"),
        ("/empty", "no network at all"),
        ("/comments-only", "no network at all"),
        ("/fastly-wrong-shape", "has neither 'addresses' nor 'ipv6_addresses'"),
        ("/fastly-not-strings", "addresses is not a list of strings"),
        ("/fastly-private", r"networks\[3\]='10.0.0.0/8' reaches into a private.*nothing was written"),
        ("/fastly-everything", r"networks\[3\]='0.0.0.0/0' is wider than /8"),
        ("/truncated.json", "the answer is not valid JSON"),
        ("/malformed-line", r"networks\[6\]='104.16.0.0/13 # and more' is not a CIDR network"),
        ("/captive-portal", "the answer is an HTML page"),
        ("/latin1", "is not UTF-8 text"),
        ("/not-found", "answered HTTP 404"),
        ("/server-error", "answered HTTP 500"),
        ("/no-content", "answered HTTP 204, not 200"),
        ("/downgrade", r"http://203.0.113.1/public-ip-list: plain HTTP could be altered"),
        ("/fastly-shrunk-75", r"3 of the 4 networks .* would be lost \(75%\).*refused even with --force"),
    ],
)
def test_update_refuses_a_broken_answer_and_writes_nothing(
    server: str, directory: dict[str, str], path: str, why: str
) -> None:
    run_update("fastly", server, "/public-ip-list", env=directory)
    target = Path(directory["REALIP_RANGES_DIR"]) / "fastly.json"
    before = target.read_bytes()
    with pytest.raises(UpdateError, match=why):
        run_update("fastly", server, path, env=directory, force=True)
    assert target.read_bytes() == before and len(list(target.parent.iterdir())) == len(PRESETS)


def test_a_shrink_beyond_ten_percent_needs_force(server: str, directory: dict[str, str]) -> None:
    run_update("fastly", server, "/public-ip-list", env=directory)
    with pytest.raises(
        UpdateError, match=r"1 of the 4 networks .* would be lost \(25%\): 2a04:4e42::/32\. .*needs --force"
    ):
        run_update("fastly", server, "/fastly-shrunk-25", env=directory)
    report = run_update("fastly", server, "/fastly-shrunk-25", env=directory, force=True)
    assert report.removed == ("2a04:4e42::/32",)


def test_the_first_update_is_compared_with_the_shipped_snapshot(server: str, tmp_path: Path) -> None:
    # The fixture holds 4 of the 21 shipped Fastly networks: far more than half lost, refused even with --force.
    env = {"REALIP_RANGES_DIR": str(tmp_path / "new")}
    with pytest.raises(UpdateError, match=r"17 of the 21 networks of the snapshot of 2026-07-02 .*fastly.json"):
        run_update("fastly", server, "/public-ip-list", env=env, force=True)
    assert not (tmp_path / "new").exists()


def test_update_follows_a_redirect_on_loopback_and_refuses_others(server: str, directory: dict[str, str]) -> None:
    assert run_update("fastly", server, "/moved", env=directory).snapshot.networks[0] == "146.75.0.0/17"
    for url, why in [
        ("http://198.51.100.7/list", "plain HTTP could be altered"),
        ("ftp://127.0.0.1/list", "not an https://"),
    ]:
        with pytest.raises(UpdateError, match=why):
            update("fastly", [url], environ=directory, force=True)


def test_an_answer_larger_than_the_limit_is_refused(server: str, directory: dict[str, str]) -> None:
    with pytest.raises(UpdateError, match="larger than 1000 bytes"):
        run_update("cloudflare", server, "/big", env=directory, max_bytes=1000)
    assert MAX_BYTES >= 16 * 1024 * 1024  # AWS's whole list fits


def test_update_needs_a_place_to_write(server: str, tmp_path: Path, directory: dict[str, str]) -> None:
    with pytest.raises(
        UpdateError, match=r"nowhere to write: set REALIP_RANGES_DIR to a directory .* or pass --output"
    ):
        update("fastly", [server + "/public-ip-list"], environ={})
    into = tmp_path / "dir"
    into.mkdir()
    # --output elsewhere: compared with the snapshot in use (the baseline in REALIP_RANGES_DIR).
    report = update("fastly", [server + "/public-ip-list"], into, environ=directory)
    assert report.snapshot.path == str(into / "fastly.json") and report.previous is not None
    assert report.previous.fetched == "2026-11-01"
    report = update("fastly", [server + "/public-ip-list"], tmp_path / "new" / "custom.json", environ=directory)
    assert report.snapshot.path == str(tmp_path / "new" / "custom.json")  # the directory is made


def test_a_file_url_reads_a_list_copied_by_hand(tmp_path: Path, directory: dict[str, str]) -> None:
    copied = tmp_path / "public-ip-list.json"
    copied.write_text(json.dumps(FASTLY), encoding="utf-8")
    report = update("fastly", [copied.as_uri()], environ=directory, force=True, today=TODAY)
    assert report.snapshot.source == copied.as_uri() and len(report.snapshot.networks) == 4


def test_a_bad_file_at_the_output_path_is_not_overwritten(server: str, directory: dict[str, str]) -> None:
    target = Path(directory["REALIP_RANGES_DIR"]) / "fastly.json"
    target.write_text("not a snapshot", encoding="utf-8")
    with pytest.raises(UpdateError, match=r"fastly.json holds no valid fastly snapshot .*move it away"):
        run_update("fastly", server, "/public-ip-list", env=directory, force=True)
    assert target.read_text(encoding="utf-8") == "not a snapshot"


@pytest.mark.parametrize(
    ("name", "body", "why"),
    [
        ("cloudflare", b'{"success": false, "errors": [{"code": 10000}]}', "did not report success"),
        ("cloudflare", b'{"success": true, "result": {}}', "neither result.ipv4_cidrs nor result.ipv6_cidrs"),
        ("cloudfront", b'{"syncToken": "1"}', "has no 'prefixes' list"),
        ("cloudfront", b'{"prefixes": [{"service": "CLOUDFRONT"}]}', r"prefixes\[0\] has no 'ip_prefix'"),
        ("fastly", b"[1, 2]", "the JSON answer is not an object"),
    ],
)
def test_each_format_is_checked(name: str, body: bytes, why: str) -> None:
    with pytest.raises(UpdateError, match=f"^u: .*{why}"):
        parse_answer(name, body, "u")  # the message starts with the URL


def test_update_never_runs_without_being_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building resolvers with every preset opens no connection: the snapshots are files."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network call at start-up")

    monkeypatch.setattr("urllib.request.OpenerDirector.open", refuse)
    monkeypatch.setattr("socket.create_connection", refuse)
    Resolver(trusted_proxies=list(PRESETS), layer4_proxies=["cloudflare"])


# -- the command ---------------------------------------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REALIP_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "realip", *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def test_the_command_updates_shows_and_explains(server: str, directory: dict[str, str], tmp_path: Path) -> None:
    fastly = ("ranges", "update", "fastly", "--url")
    refused = run(*fastly, server + "/public-ip-list", env={"REALIP_RANGES_DIR": str(tmp_path / "new")})
    assert refused.returncode == 1 and "realip ranges update fastly: refused: 17 of the 21 networks" in refused.stderr
    assert run(*fastly, server + "/public-ip-list", env=directory).returncode == 0
    shrunk = run(*fastly, server + "/fastly-shrunk-25", env=directory)
    assert shrunk.returncode == 1 and "needs --force" in shrunk.stderr
    assert run(*fastly, server + "/fastly-shrunk-25", "--force", env=directory).returncode == 0
    halved = run(*fastly, server + "/fastly-shrunk-75", "--force", env=directory)
    assert halved.returncode == 1 and "refused even with --force" in halved.stderr
    written = run("ranges", "update", "cloudflare", "--url", server + "/client/v4/ips", env=directory)
    assert written.returncode == 0, written.stderr
    assert "cloudflare: 8 networks from " in written.stdout and "+ 173.245.48.0/20" in written.stdout

    shown = json.loads(run("ranges", "show", "--json", env=directory).stdout)
    by_name = {entry["name"]: entry for entry in shown}
    assert by_name["cloudflare"]["shipped"] is False and by_name["cloudflare"]["source"] == server + "/client/v4/ips"
    assert by_name["fastly"]["networks"] == ["146.75.0.0/17", "151.101.0.0/16", "199.232.0.0/16"]
    assert by_name["cloudfront"]["fetched"] == "2026-11-01" and by_name["cloudfront"]["shipped"] is False
    text = run("ranges", "show", "cloudflare", env=directory).stdout
    assert f"REALIP_RANGES_DIR: {directory['REALIP_RANGES_DIR']}" in text and "  2606:4700::/32" in text

    explained = run("explain", "--peer", "162.158.1.2", "--trust", "cloudflare", "--trust", "fastly",
                    "-H", "X-Forwarded-For: 198.51.100.7", env=directory)  # fmt: skip
    lines = explained.stdout.splitlines()
    assert lines[1].startswith(f"preset cloudflare (trusted_proxies): 8 networks from {server}/client/v4/ips, snapshot")
    assert lines[2].startswith("preset fastly (trusted_proxies): 3 networks from")
    shipped = run("explain", "--peer", "151.101.1.57", "--trust", "fastly", "--json", env={})
    assert [(p["name"], p["source"], p["fetched"], p["shipped"]) for p in json.loads(shipped.stdout)["presets"]] == [
        ("fastly", "https://api.fastly.com/public-ip-list", "2026-07-02", True)
    ]


def test_the_command_says_when_realip_ranges_dir_is_wrong(tmp_path: Path) -> None:
    out = run("explain", "--peer", "1.2.3.4", "--trust", "fastly", env={"REALIP_RANGES_DIR": str(tmp_path / "no")})
    assert out.returncode == 2 and "configuration error: trusted_proxies[0]='fastly' names a preset" in out.stderr
    out = run("ranges", "update", "fastly", env={})
    assert out.returncode == 1 and "nowhere to write" in out.stderr


def test_the_snapshots_are_package_data() -> None:
    """The wheel (pyproject's package-data) and the sdist (MANIFEST.in) carry the JSON snapshots."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert "ranges/*.json" in project["tool"]["setuptools"]["package-data"]["realip"]
    assert "recursive-include realip/ranges *.json" in (root / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    assert sorted(path.stem for path in (root / "realip" / "ranges").glob("*.json")) == sorted(PRESETS)


def test_the_serve_probe_names_the_presets_in_its_configuration() -> None:
    import httpx

    from realip.serve import create_app

    app = create_app(Resolver(trusted_proxies=["loopback", "fastly"]))

    async def ask() -> dict[str, object]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            answer = await client.get("/", headers={"accept": "application/json"})
            return dict(answer.json()["config"])

    (preset,) = asyncio.run(ask())["presets"]  # type: ignore[misc]
    assert (preset["name"], preset["source"], preset["fetched"]) == (
        "fastly",
        "https://api.fastly.com/public-ip-list",
        "2026-07-02",
    )


@pytest.mark.parametrize("name", list(PRESETS))
def test_the_presets_page_states_each_shipped_snapshot(name: str) -> None:
    snapshot = load(name, {})
    page = (Path(__file__).resolve().parent.parent / "docs" / "presets.md").read_text(encoding="utf-8")
    row = next(line for line in page.splitlines() if line.startswith(f"| `{name}` | {len(snapshot.networks)}"))
    assert f"| {snapshot.fetched} |" in row
    for url in PRESETS[name].urls:
        assert url in page


def test_a_damaged_shipped_snapshot_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def damaged(path: object, name: str, shipped: bool) -> ranges.Snapshot:
        raise ValueError(f"{path}: is not JSON (truncated)")

    monkeypatch.setattr(ranges, "_read", damaged)
    with pytest.raises(ConfigError, match=r"the fastly snapshot shipped with realip is damaged .*: reinstall realip"):
        Resolver(trusted_proxies=["fastly"])
