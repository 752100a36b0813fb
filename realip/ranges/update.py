"""Refresh a preset's snapshot from the provider's published list: ``realip ranges update NAME``.

Runs only when an operator asks (the command, or :func:`update`), never at import or at start-up: an app's trust must
not change because a web request failed or a list changed while it was starting. What it fetches is attacker-reachable
input in the worst case (a proxy in the way, a provider's bad day), so it is believed only if all of it holds:

- every URL answers 200 over HTTPS (plain HTTP only to a loopback address, for tests and local mirrors; ``file:``
  for a list copied by hand), within a time limit and a size limit;
- the answer is in the provider's own format (:data:`PARSERS`), or a plain list of CIDR networks, one a line;
- every network passes :func:`realip.ranges.check_networks` (a CIDR, not wider than a /8 or /16, outside private,
  loopback, link-local, CGNAT, multicast and reserved space); one bad entry refuses the whole answer;
- the result is not empty, keeps at least half of the networks of the snapshot it replaces (an address of the old
  snapshot no longer covered counts as lost), and, unless ``force``, loses no more than :data:`SHRINK_LIMIT` of them.

Then the snapshot is written atomically (a temporary file in the same directory, flushed, then renamed over the old
one), so an app starting meanwhile reads the old snapshot or the new one, never half of one.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import netaddr

from ..errors import ConfigError
from . import PRESETS, RANGES_DIR_VARIABLE, Snapshot, check_networks, load, parse_snapshot, user_dir

__all__ = [
    "HARD_SHRINK_LIMIT",
    "MAX_BYTES",
    "PARSERS",
    "SHRINK_LIMIT",
    "TIMEOUT",
    "UpdateError",
    "UpdateReport",
    "output_path",
    "parse_answer",
    "update",
]

#: The share of the replaced snapshot's networks an update may lose without ``force``.
SHRINK_LIMIT = 0.10
#: The share beyond which an update is refused even with ``force``: check the list by hand then.
HARD_SHRINK_LIMIT = 0.50
#: The longest answer read, in bytes (AWS's whole ip-ranges.json is a few MB).
MAX_BYTES = 32 * 1024 * 1024
#: Seconds allowed for each URL.
TIMEOUT = 30.0


class UpdateError(Exception):
    """The update was refused or failed; nothing was written. The message says why and what to do."""


class UpdateReport(NamedTuple):
    """What an update wrote, against what it replaced."""

    snapshot: Snapshot
    #: The snapshot it replaced (the file at the output path, else the one in use), or ``None``.
    previous: Snapshot | None
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def text(self) -> str:
        """A short account for the terminal."""
        snap = self.snapshot
        lines = [f"{snap.name}: {len(snap.networks)} networks from {snap.source}, fetched {snap.fetched}"]
        lines.append(f"written to {snap.path}")
        if self.previous is None:
            lines.append("no previous snapshot to compare with")
        elif not self.added and not self.removed:
            lines.append(f"unchanged since the snapshot of {self.previous.fetched} (the date is renewed)")
        else:
            lines.append(f"against the snapshot of {self.previous.fetched}:")
            lines += [f"  + {network}" for network in self.added]
            lines += [f"  - {network}" for network in self.removed]
        return "\n".join(lines)


# -- the providers' formats ----------------------------------------------------------------------------------------


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UpdateError(f"{where} is not a list of strings")
    return value


def _cloudflare(data: Mapping[str, Any]) -> list[str]:
    """The API (``/client/v4/ips``): ``{"success": true, "result": {"ipv4_cidrs": [...], "ipv6_cidrs": [...]}}``."""
    if data.get("success") is not True:
        raise UpdateError(f"the Cloudflare API did not report success: errors={data.get('errors')!r}")
    result = data.get("result")
    if not isinstance(result, Mapping):
        raise UpdateError("the Cloudflare API answer has no 'result' object")
    found: list[str] = []
    for key in ("ipv4_cidrs", "ipv6_cidrs"):
        if key in result:
            found += _strings(result[key], f"result.{key}")
    if "ipv4_cidrs" not in result and "ipv6_cidrs" not in result:
        raise UpdateError("the Cloudflare API answer has neither result.ipv4_cidrs nor result.ipv6_cidrs")
    return found


def _fastly(data: Mapping[str, Any]) -> list[str]:
    """``/public-ip-list``: ``{"addresses": [...], "ipv6_addresses": [...]}``."""
    if "addresses" not in data and "ipv6_addresses" not in data:
        raise UpdateError("the Fastly answer has neither 'addresses' nor 'ipv6_addresses'")
    found: list[str] = []
    for key in ("addresses", "ipv6_addresses"):
        if key in data:
            found += _strings(data[key], key)
    return found


#: The AWS services whose prefixes make the ``cloudfront`` preset (see :data:`realip.ranges.PRESETS`).
CLOUDFRONT_SERVICES = frozenset({"CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"})


def _cloudfront(data: Mapping[str, Any]) -> list[str]:
    """AWS ``ip-ranges.json``: ``prefixes`` (``ip_prefix``) and ``ipv6_prefixes`` (``ipv6_prefix``), each with a
    ``service``; the CloudFront ones are kept."""
    if not isinstance(data.get("prefixes"), list):
        raise UpdateError("the AWS answer has no 'prefixes' list")
    found: list[str] = []
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        entries = data.get(key, [])
        if not isinstance(entries, list):
            raise UpdateError(f"the AWS answer's {key!r} is not a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get(field), str):
                raise UpdateError(f"the AWS answer's {key}[{index}] has no {field!r}")
            if entry.get("service") in CLOUDFRONT_SERVICES:
                found.append(entry[field])
    return found


#: Each preset's JSON format; an answer that is not JSON is read as one CIDR a line (Cloudflare's ips-v4/-v6).
PARSERS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "cloudflare": _cloudflare,
    "fastly": _fastly,
    "cloudfront": _cloudfront,
}


def parse_answer(name: str, body: bytes, url: str) -> list[str]:
    """The network strings in one answer for preset ``name``: JSON in the provider's format, or lines of text (blank
    lines and ``#`` comments skipped). :class:`UpdateError` names ``url`` when it is neither."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UpdateError(f"{url}: the answer is not UTF-8 text") from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except ValueError as error:
            raise UpdateError(f"{url}: the answer is not valid JSON ({error})") from None
        if not isinstance(data, Mapping):
            raise UpdateError(f"{url}: the JSON answer is not an object")
        try:
            return PARSERS[name](data)
        except UpdateError as error:
            raise UpdateError(f"{url}: {error}") from None
    if stripped.lower().startswith(("<!doctype", "<html", "<")):
        raise UpdateError(f"{url}: the answer is an HTML page, not a list of networks")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# -- fetching ------------------------------------------------------------------------------------------------------


def _check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or parts.scheme == "file":
        return
    if parts.scheme == "http":
        host = parts.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return
        raise UpdateError(
            f"{url}: plain HTTP could be altered on the way and the list decides whom realip believes; "
            "use https:// (http:// is accepted only from a loopback address)"
        )
    raise UpdateError(f"{url}: not an https://, http://127.0.0.1 or file: URL")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL :func:`_check_url` accepts (never from HTTPS down to plain HTTP)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        _check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, timeout: float, max_bytes: int) -> bytes:
    _check_url(url)
    from .. import __version__

    agent = {"User-Agent": f"realip/{__version__} (ranges update)"}
    request = urllib.request.Request(url, headers=agent)  # noqa: S310 (schemes checked above)
    try:
        with urllib.request.build_opener(_CheckedRedirects).open(request, timeout=timeout) as response:
            status = getattr(response, "status", None)
            if status is not None and status != 200:
                raise UpdateError(f"{url}: answered HTTP {status}, not 200")
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        raise UpdateError(f"{url}: answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise UpdateError(f"{url}: could not be fetched ({reason})") from None
    if len(body) > max_bytes:
        raise UpdateError(f"{url}: the answer is larger than {max_bytes} bytes, refused")
    return body


# -- where to write ------------------------------------------------------------------------------------------------


def output_path(name: str, output: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where the snapshot of ``name`` goes: ``output`` (a directory gets ``NAME.json`` in it), else
    ``$REALIP_RANGES_DIR/NAME.json``. :class:`UpdateError` when neither is given: the package's own directory is
    never written (it may be read-only, and a reinstall would silently undo the update)."""
    if output is not None:
        path = Path(output).expanduser()
        return path / f"{name}.json" if path.is_dir() else path
    directory = user_dir(environ)
    if directory is None:
        raise UpdateError(
            f"nowhere to write: set {RANGES_DIR_VARIABLE} to a directory (the app reads the snapshots there too), "
            "or pass --output PATH"
        )
    return directory / f"{name}.json"


def _previous(name: str, path: Path, environ: Mapping[str, str] | None) -> Snapshot | None:
    """The snapshot being replaced: the file at ``path``, else the one in use (shipped or updated)."""
    if path.exists():
        try:
            return parse_snapshot(json.loads(path.read_text(encoding="utf-8")), name, str(path))
        except (OSError, ValueError) as error:
            raise UpdateError(
                f"{path} holds no valid {name} snapshot ({error}): move it away, or write elsewhere with --output"
            ) from None
    try:
        return load(name, environ)
    except ConfigError:  # REALIP_RANGES_DIR names no directory yet, or a bad file there: the shipped one, then
        return load(name, {})


def _lost(previous: Sequence[str], current: Iterable[str]) -> tuple[str, ...]:
    """The previous networks not wholly covered by the current ones (a merge or a split loses nothing)."""
    covered = netaddr.IPSet(current)
    return tuple(network for network in previous if not netaddr.IPSet([network]).issubset(covered))


def _write_atomically(path: Path, snapshot: Snapshot) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(snapshot.as_dict(), indent=1) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; the app may run as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def update(
    name: str,
    urls: Sequence[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    force: bool = False,
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
    today: datetime.date | None = None,
) -> UpdateReport:
    """Fetch preset ``name`` from ``urls`` (default: the provider's, :data:`realip.ranges.PRESETS`), check it,
    compare it with the snapshot it replaces and write it to :func:`output_path`. Raises :class:`UpdateError`, having
    written nothing, when anything in the module docstring's list fails."""
    preset = PRESETS.get(name)
    if preset is None:
        raise UpdateError(f"{name!r} is not a preset: the presets are {', '.join(PRESETS)}")
    urls = tuple(urls) if urls else preset.urls
    path = output_path(name, output, environ)
    previous = _previous(name, path, environ)
    found: list[str] = []
    for url in urls:
        found += parse_answer(name, _fetch(url, timeout, max_bytes), url)
    try:
        networks = check_networks(found, " + ".join(urls))
    except ValueError as error:
        raise UpdateError(f"{error}; nothing was written") from None
    if not networks:
        raise UpdateError(f"{' + '.join(urls)}: no network at all; an empty list would trust nobody, refused")
    if previous is not None:
        lost = _lost(previous.networks, networks)
        share = len(lost) / len(previous.networks)
        detail = (
            f"{len(lost)} of the {len(previous.networks)} networks of the snapshot of {previous.fetched} "
            f"({previous.path}) would be lost ({share:.0%}): {', '.join(lost[:5])}{', ...' if len(lost) > 5 else ''}"
        )
        if share > HARD_SHRINK_LIMIT:
            raise UpdateError(
                f"{detail}. More than {HARD_SHRINK_LIMIT:.0%} is refused even with --force: a provider rarely gives up "
                "half its edge at once, a broken answer often looks like that. Check the list by hand; if it is "
                "right, write the snapshot file yourself."
            )
        if share > SHRINK_LIMIT and not force:
            raise UpdateError(f"{detail}. More than {SHRINK_LIMIT:.0%} needs --force, once you have checked the list.")
    day = today or datetime.datetime.now(datetime.UTC).date()
    snapshot = Snapshot(name, " ".join(urls), day.isoformat(), networks, str(path))
    _write_atomically(path, snapshot)
    before = set(previous.networks) if previous is not None else set()
    return UpdateReport(
        snapshot,
        previous,
        tuple(network for network in networks if network not in before),
        tuple(network for network in (previous.networks if previous else ()) if network not in set(networks)),
    )
