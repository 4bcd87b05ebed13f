"""Engine benchmark: `python -m bench.engine [--quick]` (writes only under bench/out/)."""
