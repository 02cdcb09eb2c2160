"""Benchmarks of pipit: gateway capacity (bench.gateway) and device cost (bench.device).

Run them with `./run bench` (or `./run bench --only gateway`); each writes
JSON and a Markdown table to bench/results/. docs/benchmarks.md explains the
method and the figures. Nothing here is asserted in tests: speed is measured,
not required.
"""
