"""The PROXY protocol benchmark section, run with tiny sample counts: every row answers right and the target rows
exist. No timing is asserted: timings here are meaningless by design."""

from __future__ import annotations

from benchmarks.proxy import measure_proxy
from benchmarks.report import proxy_targets


def test_the_section_measures_both_parsers_and_the_connection() -> None:
    rows, note = measure_proxy(rounds=2, seconds=0.0001, batch=64)
    answers = {row.name: row.answer for row in rows}
    assert "C PROXY parser is not built" not in note
    for header, size in (("v1 TCP4", 44), ("v2 TCP4 + AWS TLV + CRC32c", 61)):
        assert answers[f"parse {header} C"] == answers[f"parse {header} pure"] == f"{size} header bytes"
        assert answers[f"connection {header}: trust + parse + header + record/forget (C)"] == "198.51.100.7:40123"
    targets = proxy_targets(rows)
    assert [t.where for t in targets] == ["v1 TCP4", "v2 TCP4 + AWS TLV + CRC32c"]
    assert all(t.target == "PROXY parse: C ≥ 10x pure" and t.ratio is not None for t in targets)
    assert [t.met for t in proxy_targets([])] == [None, None]  # nothing measured: not applicable, not "met"
