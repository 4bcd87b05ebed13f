"""Vision benchmark: `python -m bench.vision`."""
