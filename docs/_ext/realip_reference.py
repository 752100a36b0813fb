"""Pages built from the code and the examples at each build, so the site cannot fall behind either.

Directives (usable in MyST pages as ```` ```{realip-reference} options ```` and in reST):

- ``realip-reference NAME``: a table of the configuration reference (``options``, ``layer4``, ``switches``,
  ``checks``), its rows from :mod:`reference_tables` (which reads ``realip.options.OPTIONS``, the Django checks and
  the Layer-4 readers' defaults). Each row defining a setting, a variable or a check is the target of the
  ``setting``, ``envvar`` and ``check`` roles: ``{setting}`trusted_proxies```, ``{envvar}`REALIP_LAYER4```,
  ``{check}`realip.W002``` link to it from any page, and the search finds them.
- ``realip-manifest PATH`` (``:kinds: ConfigMap Service``): the YAML documents of those kinds from an example
  manifest (a path from the repository root), with a caption linking to the whole file on GitHub. A kind missing
  from the file is an error, so renaming an example breaks the build, not the page.
- ``realip-settings-in-code PATH``: the ``REALIP_*`` settings of that example's ConfigMap written for an adapter
  and for Django's ``REALIP`` dict (:func:`reference_tables.code_for`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, cast

import reference_tables
from docutils import nodes
from docutils.parsers.rst import directives
from reference_tables import NONE, REPO, Column
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.domains.std import StandardDomain
from sphinx.util.docutils import SphinxDirective

GITHUB = "https://github.com/realip/realip/blob/main/"
_LITERAL = re.compile(r"``(.+?)``")


def _inline(text: str) -> list[nodes.Node]:
    """``text`` with its ````literal```` spans as literal nodes."""
    parts: list[nodes.Node] = []
    for index, piece in enumerate(_LITERAL.split(text)):
        if index % 2:
            parts.append(nodes.literal(piece, piece))
        elif piece:
            parts.append(nodes.Text(piece))
    return parts


def _node_id(objtype: str, name: str) -> str:
    return f"{objtype}-" + re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


class ReferenceTable(SphinxDirective):
    """``realip-reference NAME``: one table of the configuration reference."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if name not in reference_tables.TABLES:
            raise self.error(f"realip-reference: no table {name!r} (one of {', '.join(reference_tables.TABLES)})")
        table = reference_tables.TABLES[name]()
        for module in ("realip/options.py", "realip/django/checks.py", "docs/_ext/reference_tables.py"):
            self.env.note_dependency(str(REPO / module))
        narrow = [index for index, column in enumerate(table.columns) if not column.wide]
        wide = [index for index, column in enumerate(table.columns) if column.wide]
        node = nodes.table(classes=["realip-reference", f"realip-reference-{name}"])
        group = nodes.tgroup(cols=len(narrow))
        node += group
        for _ in narrow:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        head += self._row([nodes.paragraph("", table.columns[index].title) for index in narrow])
        for index in wide:  # a wide column's title spans the table too, on its own line
            head += self._row([nodes.paragraph("", table.columns[index].title)], span=len(narrow))
        body = nodes.tbody()
        group += body
        for row in table.rows:
            body += self._row([self._cell(table.columns[index], row[index]) for index in narrow])
            for index in wide:
                body += self._row([self._cell(table.columns[index], row[index])], span=len(narrow))
        result: list[nodes.Node] = [node]
        if table.note:
            result.append(nodes.paragraph("", "", *_inline(table.note)))
        return result

    @staticmethod
    def _row(cells: list[nodes.Element], span: int = 1) -> nodes.row:
        row = nodes.row(classes=["realip-wide"] if span > 1 else [])
        for cell in cells:
            entry = nodes.entry(morecols=span - 1) if span > 1 else nodes.entry()
            entry += cell
            entry["ids"] = cell.attributes.pop("entry-ids", [])
            row += entry
        return row

    def _cell(self, column: Column, text: str) -> nodes.paragraph:
        if text == NONE:
            return nodes.paragraph("", NONE)
        if column.kind == "literal":
            return nodes.paragraph("", "", nodes.literal(text, text))
        if column.kind == "define":
            node_id = _node_id(column.objtype, text)
            std = cast(StandardDomain, self.env.get_domain("std"))
            std.note_object(column.objtype, text, node_id, location=self.get_location())
            paragraph = nodes.paragraph("", "", nodes.literal(text, text))
            paragraph["entry-ids"] = [node_id]
            return paragraph
        if column.kind == "link":
            xref = addnodes.pending_xref(
                "",
                nodes.literal(text, text),
                refdomain="std",
                reftype=column.objtype,
                reftarget=text,
                refexplicit=True,
                refwarn=True,
                refdoc=self.env.docname,
            )
            return nodes.paragraph("", "", xref)
        return nodes.paragraph("", "", *_inline(text))


def _caption(code: str, language: str, caption: list[nodes.Node]) -> nodes.container:
    """A code block with a caption, as Sphinx's own ``code-block :caption:`` renders it."""
    wrapper = nodes.container("", literal_block=True, classes=["literal-block-wrapper"])
    wrapper += nodes.caption("", "", *caption)
    wrapper += nodes.literal_block(code, code, language=language)
    return wrapper


def _github(path: str) -> nodes.reference:
    return nodes.reference("", "", nodes.literal(path, path), refuri=GITHUB + path)


_KIND = re.compile(r"^kind:\s*(\S+)", re.M)


class Manifest(SphinxDirective):
    """``realip-manifest PATH`` (``:kinds: A B``): chosen documents of an example manifest."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"kinds": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        file = REPO / path
        if not file.is_file():
            raise self.error(f"realip-manifest: {path} does not exist")
        self.env.note_dependency(str(file))
        documents = [doc.strip("\n") for doc in re.split(r"^---[ \t]*\n", file.read_text(encoding="utf-8"), flags=re.M)]
        kinds = [(found.group(1) if (found := _KIND.search(doc)) else "") for doc in documents]
        wanted = self.options.get("kinds", "").split() or kinds
        missing = [kind for kind in wanted if kind not in kinds]
        if missing:
            raise self.error(f"realip-manifest: {path} has no {', '.join(missing)} (it has {', '.join(kinds)})")
        kept = [doc for doc, kind in zip(documents, kinds, strict=True) if kind in wanted]
        left = [kind for kind in kinds if kind not in wanted]
        caption: list[nodes.Node] = [_github(path)]
        if left:
            caption.append(nodes.Text(f" (not shown: the {' and the '.join(left)})"))
        return [_caption("\n---\n".join(kept) + "\n", "yaml", caption)]


class SettingsInCode(SphinxDirective):
    """``realip-settings-in-code PATH``: an example ConfigMap's settings as adapter keywords and Django's dict."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        target = REPO / path
        for file in sorted(target.glob("*.yaml")) if target.is_dir() else [target]:
            self.env.note_dependency(str(file))
        try:
            adapter, django, environment = reference_tables.code_for(reference_tables.configmap_settings(target))
        except (OSError, ValueError) as error:
            raise self.error(f"realip-settings-in-code: {error}") from None
        result: list[nodes.Node] = [
            _caption(
                adapter,
                "python",
                [
                    nodes.Text("ASGI or WSGI middleware (Flask: "),
                    nodes.literal("RealIP(app, ...)", "RealIP(app, ...)"),
                    nodes.Text(" with the same keywords)"),
                ],
            ),
            _caption(django, "python", [nodes.Text("Django: "), nodes.literal("settings.py", "settings.py")]),
        ]
        if environment:
            paragraph = nodes.paragraph("", "Read from the environment by the server hook, not by the app: ")
            for index, variable in enumerate(environment):
                if index:
                    paragraph += nodes.Text(", ")
                paragraph += addnodes.pending_xref(
                    "", nodes.literal(variable, variable), refdomain="std", reftype="envvar", reftarget=variable,
                    refexplicit=True, refwarn=True, refdoc=self.env.docname,
                )  # fmt: skip
            paragraph += nodes.Text(".")
            result.append(paragraph)
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_object_type("setting", "setting", objname="realip setting")
    app.add_object_type("check", "check", objname="Django system check")
    app.add_directive("realip-reference", ReferenceTable)
    app.add_directive("realip-manifest", Manifest)
    app.add_directive("realip-settings-in-code", SettingsInCode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
