"""realip's docstring dialect, for autodoc: reStructuredText, plus pipe tables.

- A pipe table (``| a | b |`` rows under a ``|---|---|`` line) becomes a ``list-table``: docstrings keep tables
  that read well in ``help()``, and the site renders them as tables.
- An indented block that does not follow ``::`` is reported: reST would show it as a quotation, where the writer
  meant code. Write ``::`` on the line before (a paragraph that is only ``::`` disappears from the output).
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

_RULE = re.compile(r"\s*\|(\s*:?-+:?\s*\|)+\s*")


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def pipe_tables(lines: list[str]) -> list[str]:
    """The docstring's lines with each pipe table turned into a ``list-table`` directive."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("|") and index + 1 < len(lines) and _RULE.fullmatch(lines[index + 1]):
            indent = line[: len(line) - len(line.lstrip())]
            rows = [_cells(line)]
            index += 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                rows.append(_cells(lines[index]))
                index += 1
            out += ["", f"{indent}.. list-table::", f"{indent}   :header-rows: 1", ""]
            for row in rows:
                out.append(f"{indent}   * - {row[0]}")
                out += [f"{indent}     - {cell}" for cell in row[1:]]
            out.append("")
            continue
        out.append(line)
        index += 1
    return out


def quoted_blocks(lines: list[str]) -> list[int]:
    """Line numbers (0-based) where an indented block starts after a paragraph that does not end with ``::``."""
    found = []
    for number in range(1, len(lines)):
        line = lines[number]
        if not line.startswith(" ") or not line.strip() or lines[number - 1].strip():
            continue
        before = [text for text in lines[:number] if text.strip()]
        if not before or before[-1].startswith(" "):
            continue  # the start of the docstring, or inside a block already (code, a list item, a directive)
        if not before[-1].rstrip().endswith("::") and not before[-1].startswith((".. ", "* ", "- ", ":")):
            found.append(number)
    return found


def _process(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    for number in quoted_blocks(lines):
        logger.warning(
            "%s: docstring line %d starts an indented block with no '::' before it (reST shows it as a quotation); "
            "put '::' on the line before if it is code",
            name,
            number + 1,
            type="realip",
            subtype="docstring",
        )
    lines[:] = pipe_tables(lines)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
