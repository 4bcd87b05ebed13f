"""Fit the engine's quality predictor and write services/processor/engine/predictor.json.

Run: `.venv/bin/python -m bench.predictor` (the encodes are cached in bench/out/predictor, so a
second run only refits). Per model (codec and encoder variant): ridge regression from the
standardised features, the centred target score and their products to the lowest quality that
reaches the target, and to log2 bytes per pixel there. Sources are split 75/25 (every variant
of a source on the same side); the held-out errors are printed and written to
bench/RESULTS-predictor.md, then the committed parameters are refitted on every source. The
margin added at run time is the held-out residual quantile MARGIN_QUANTILE.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupShuffleSplit

from bench.engine.corpus import REPO
from services.processor.engine.predict import FEATURES, PARAMS, SCORE_CENTRE, SCORE_SCALE
from services.processor.engine.predict import model_key as key_of

from .data import Curve, curves, lowest_quality

TARGETS = (65.0, 70.0, 75.0, 80.0, 85.0, 90.0)
HELD_OUT = 0.25
SEED = 7
ALPHA = 1.0
MARGIN_QUANTILE = 0.6
RESULTS = REPO / "bench" / "RESULTS-predictor.md"


def _rows(cs: list[Curve]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    feats, scores, qualities, bpps, groups = [], [], [], [], []
    for c in cs:
        for t in TARGETS:
            found = lowest_quality(c, t)
            if found is None:
                continue
            feats.append(c.features)
            scores.append(t)
            qualities.append(found[0])
            bpps.append(found[1])
            groups.append(c.source)
    return np.asarray(feats), np.asarray(scores), np.asarray(qualities), np.asarray(bpps), groups


def _design(
    feats: np.ndarray, scores: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    z = (feats - mean) / scale
    t = ((scores - SCORE_CENTRE) / SCORE_SCALE)[:, None]
    return np.hstack([np.ones((len(z), 1)), z, t, t * z])


def _fit(
    feats: np.ndarray, scores: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, scale = feats.mean(axis=0), feats.std(axis=0) + 1e-9
    x = _design(feats, scores, mean, scale)
    ridge = Ridge(alpha=ALPHA, fit_intercept=False).fit(x, y)
    return mean, scale, np.asarray(ridge.coef_)


def main() -> int:
    by_model: dict[str, list[Curve]] = defaultdict(list)
    for c in curves():
        by_model[key_of(c.codec, c.variant_key, c.chroma)].append(c)
        print(f"{c.source} {c.variant} {c.codec} {c.variant_key}", file=sys.stderr, flush=True)
    report = [
        "# Quality predictor (`python -m bench.predictor`)",
        "",
        f"Features: {', '.join(FEATURES)}. Targets {', '.join(f'{t:g}' for t in TARGETS)}. "
        f"Held out: {HELD_OUT:.0%} of the sources (all their variants). Errors in encoder "
        "quality units (true lowest quality reaching the target minus the prediction) and in "
        "log2 bytes per pixel.",
        "",
        "| model | sources | rows (train/test) | quality MAE | p90 abs error | margin "
        "| log2 bpp MAE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    params: dict[str, dict[str, object]] = {}
    for key, cs in sorted(by_model.items()):
        feats, scores, q, bpp, groups = _rows(cs)
        split = GroupShuffleSplit(n_splits=1, test_size=HELD_OUT, random_state=SEED)
        train, test = next(split.split(feats, q, groups))
        mean, scale, qcoef = _fit(feats[train], scores[train], q[train])
        _, _, bcoef = _fit(feats[train], scores[train], bpp[train])
        x_test = _design(feats[test], scores[test], mean, scale)
        residual = q[test] - x_test @ qcoef
        bpp_err = np.abs(bpp[test] - x_test @ bcoef)
        margin = float(np.quantile(residual, MARGIN_QUANTILE))
        report.append(
            f"| {key} | {len(set(groups))} | {len(train)}/{len(test)} | "
            f"{np.abs(residual).mean():.2f} | {np.quantile(np.abs(residual), 0.9):.2f} | "
            f"{margin:+.2f} | {bpp_err.mean():.3f} |"
        )
        mean, scale, qcoef = _fit(feats, scores, q)
        _, _, bcoef = _fit(feats, scores, bpp)
        params[key] = {
            "mean": mean.round(6).tolist(),
            "scale": scale.round(6).tolist(),
            "quality": qcoef.round(6).tolist(),
            "log_bpp": bcoef.round(6).tolist(),
            "margin": round(margin, 3),
        }
    sources = sorted({c.source for cs in by_model.values() for c in cs})
    report += ["", f"Sources ({len(sources)}): " + ", ".join(f"`{s}`" for s in sources) + "."]
    text = "\n".join(report) + "\n"
    print(text)
    RESULTS.write_text(text)
    PARAMS.write_text(json.dumps({"features": list(FEATURES), "models": params}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
