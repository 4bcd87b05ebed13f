"""Benchmarks; each sub-package is runnable with `python -m bench.<name>`."""
