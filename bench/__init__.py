"""Benchmarks of the operator and the emulator; run from the repository's root: `python -m bench.run`."""
