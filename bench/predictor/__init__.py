"""Fit the engine's quality predictor (see __main__.py)."""
