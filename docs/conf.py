"""Sphinx configuration for the realip documentation site (./scripts/docs builds it, warnings as errors).

Pages are Markdown (MyST); the API reference is autodoc over the docstrings, which are reStructuredText with Sphinx
roles (:class:`~realip.Resolver`), ``::`` before a code block, and pipe tables (docs/_ext/docstrings.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import realip  # noqa: E402

project = "realip"
author = "the realip authors"
copyright = "2026, the realip authors"
release = realip.__version__
version = release

extensions = ["sphinx.ext.autodoc", "myst_parser", "docstrings", "realip_reference"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
# benchmarks.md is `python -m benchmarks`' output, shown inside speed.md (an include), so it stays generated.
exclude_patterns = ["_build", "benchmarks.md"]

# Every reference must resolve (nitpicky, and the build runs with -W). There is no intersphinx: CI reaches package
# registries only, not docs.python.org, so references to other projects' objects (type hints, mostly) are not links.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(collections\.abc|typing|socket|asyncio|logging|ipaddress|types|enum|wsgiref\.types)\..*"),
    (r"py:.*", r"(datetime|pathlib|os|contextvars|argparse)\..*"),
    (r"py:.*", r"(django|flask|starlette|werkzeug|uvicorn|gunicorn|netaddr|opentelemetry)(\..*)?"),
    (r"py:.*", r"(aiohttp|sanic|tornado|litestar|quart)(\..*)?"),
    (r"py:class", r"(Sanic|Quart|Application|AppConfig|HTTPConnection)"),  # framework types, imported by name
    (r"py:class", r"Unresolved"),  # realip.ratelimit's Literal alias
    (r"py:.*", r"(Flask|Request|Response|HttpRequest|HttpResponse|WSGIEnvironment|StartResponse|WSGIApplication)"),
    # Type aliases and private types in signatures (autodoc_typehints): not documented on their own.
    (r"py:class", r"(ASGIApp|Scope|Receive|Send|Message|GetResponse|Peer|ConnTable|realip\.resolver\.Entry)"),
    (r"py:class", r"realip_toa\.proxy_listener\.HeaderReader"),  # what ProxyProtocolPolicy.reader returns
    # Private modules and names (a path segment starting with "_"): the pure twins and helpers, named in prose.
    (r"py:.*", r"(realip|realip_toa)(\.\w+)*\._\w+(\.\w+)*"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}

myst_heading_anchors = 3

html_theme = "furo"
html_title = f"realip {release}"
html_static_path = ["_static"]
html_css_files = ["realip.css"]
