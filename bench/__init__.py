"""Benchmarks of issue 7 (run ``python -m bench.run`` from the repository root; see bench/README.md)."""
