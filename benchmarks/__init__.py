"""realip measured side by side with its peers: speed and the answer each library gives, in one run.

``python -m benchmarks`` runs every level (resolution per call, middleware overhead, whole server, TOA parse) and
writes ``docs/benchmarks.md`` and ``docs/benchmarks.png``. Timings are ratios within one run on one machine; tests
only check the report's structure, never a timing.
"""
