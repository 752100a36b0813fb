"""Check the built documentation site in headless Chromium: no broken link, and the search finds things.

    python scripts/check_docs.py docs/_build/html

Serves the site on 127.0.0.1, renders every page in Chromium (scripts run, as a reader's browser runs them) and
checks, from the rendered DOM:

- every link, image, stylesheet and script inside the site answers 200, and every ``#fragment`` names an element
  on its page; links into this repository on GitHub (``https://github.com/realip/realip/(blob|tree)/main/PATH``)
  name a PATH that exists in the checkout (other external links are listed, not fetched: CI reaches package
  registries only);
- nothing the browser loaded while rendering was missing (the server's 404s);
- the search page, asked for each of :data:`SEARCHES`, lists a result on the page expected.

Exits 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urljoin, urlsplit

REPO = Path(__file__).resolve().parent.parent
GITHUB = re.compile(r"https://github\.com/realip/realip/(?:blob|tree)/main/([^#?]+)")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=10000",  # let the page's scripts (the search) finish before the DOM is dumped
)

#: Search queries and the page a result must point to: API names, settings, and words from the guides.
SEARCHES = (
    ("TOASource", "api.html"),
    ("trusted_proxies", "configuration.html"),
    ("REALIP_PROXY_PROTOCOL_TIMEOUT", "configuration.html"),
    ("externalTrafficPolicy", "tke.html"),
    ("TOA", "tke.html"),
    ("ingress-nginx", "tke.html"),
    ("SECURE_PROXY_SSL_HEADER", "tutorials/django.html"),
    ("Unreleased", "changelog.html"),
)


class _Links(html.parser.HTMLParser):
    """The URLs a page refers to (href, src), the ids it defines, and the links in its search results."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.results: list[str] = []
        self._lists = 0  # depth inside Sphinx's <ul class="search"> (the search page's results)

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul" and self._lists:
            self._lists -= 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "ul" and (self._lists or "search" in (dict(attrs).get("class") or "").split()):
            self._lists += 1
        if tag == "a" and self._lists:
            self.results += [value for name, value in attrs if name == "href" and value]
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name in ("href", "src") and not (tag == "a" and name == "href" and value.startswith("javascript:")):
                self.urls.append(value)
        if tag == "a":
            self.ids.update(value for name, value in attrs if name == "name" and value)


class _Site(http.server.SimpleHTTPRequestHandler):
    """Serves the site and remembers every path that was missing."""

    missing: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        # A browser asks for /favicon.ico by itself; the site links none, so its absence breaks no link.
        if len(args) >= 2 and str(args[1]) == "404" and self.path != "/favicon.ico":
            self.missing.append(self.path)


def render(chromium: str, profile: Path, url: str) -> str:
    """The page's DOM after its scripts ran."""
    argv = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {done.stderr[-2000:]}")
    return done.stdout


def parse(dom: str) -> _Links:
    links = _Links()
    links.feed(dom)
    return links


def check(site: Path, chromium: str) -> tuple[list[str], list[str]]:
    """(problems, external links not fetched)."""
    handler = functools.partial(_Site, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems: list[str] = []
    external: set[str] = set()
    pages = sorted(str(path.relative_to(site)) for path in site.rglob("*.html"))
    try:
        with tempfile.TemporaryDirectory() as profile:
            rendered = {page: parse(render(chromium, Path(profile), base + page)) for page in pages}
            for page, links in rendered.items():
                for url in links.urls:
                    absolute = urljoin(base + page, url)
                    if not absolute.startswith(base):
                        found = GITHUB.match(absolute)
                        if found and not (REPO / unquote(found.group(1))).exists():
                            problems.append(f"{page}: {url} names {found.group(1)}, which is not in the repository")
                        elif not found and absolute.startswith(("http://", "https://")):
                            external.add(absolute)
                        continue
                    parts = urlsplit(absolute)
                    target = unquote(parts.path[len(urlsplit(base).path) :]) or "index.html"
                    if target.endswith("/"):
                        target += "index.html"
                    if not (site / target).is_file():
                        problems.append(f"{page}: {url} is broken ({target} does not exist)")
                    elif parts.fragment and target.endswith(".html"):
                        ids = rendered[target].ids if target in rendered else set()
                        if unquote(parts.fragment) not in ids:
                            problems.append(f"{page}: {url} points to #{parts.fragment}, which {target} lacks")
            for query, expected in SEARCHES:
                dom = render(chromium, Path(profile), f"{base}search.html?q={query}")
                results = [url for url in parse(dom).results if urlsplit(url).path.endswith(expected)]
                if not results:
                    problems.append(f"search: {query!r} found no result on {expected}")
    finally:
        server.shutdown()
    problems += [f"the browser asked for {path}, which the site lacks" for path in sorted(set(_Site.missing))]
    return problems, sorted(external)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("site", type=Path, help="the built HTML site (sphinx-build's output directory)")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("check_docs: chromium is not installed: apt-get install chromium", file=sys.stderr)
        return 1
    problems, external = check(args.site.resolve(), chromium)
    for problem in problems:
        print(f"check_docs: {problem}", file=sys.stderr)
    pages = len(list(args.site.rglob("*.html")))
    print(f"check_docs: {pages} pages, {len(SEARCHES)} searches, {len(problems)} problems; "
          f"{len(external)} external links not fetched: {', '.join(external) or 'none'}")  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
