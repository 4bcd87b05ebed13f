"""Per-worker throughput of the real stack (`python -m bench.throughput`)."""
