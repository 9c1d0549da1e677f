"""Helpers shared by the end-to-end tests, the chaos tests and the benchmarks."""
