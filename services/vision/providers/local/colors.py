"""Dominant palette by k-means in CIELAB, so clusters match what people see as one colour."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

_SAMPLE_SIDE = 96
_MERGE_DELTA_E = 12.0
_MIN_SHARE = 0.03


def dominant_colors(rgb: np.ndarray, k: int = 6) -> list[tuple[str, float]]:
    """Return up to `k` (hex, share) pairs, largest share first; shares sum to at most 1."""
    h, w = rgb.shape[:2]
    scale = _SAMPLE_SIDE / max(h, w)
    small = cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    k = max(1, min(k, len(np.unique(lab, axis=0))))
    cv2.setRNGSeed(7)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, labels, centers = cv2.kmeans(  # type: ignore[call-overload]
        lab, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS
    )
    counts = np.bincount(labels.ravel(), minlength=k).astype(np.float64)
    clusters = _merge_close(list(zip(centers, counts, strict=True)))
    total = float(counts.sum())
    out: list[tuple[str, float]] = []
    for center, count in sorted(clusters, key=lambda c: -c[1]):
        share = count / total
        if share < _MIN_SHARE:
            continue
        pixel = np.clip(center, 0, 255).astype(np.uint8).reshape(1, 1, 3)
        r, g, b = (int(v) for v in cv2.cvtColor(pixel, cv2.COLOR_LAB2RGB)[0, 0])
        out.append((f"#{r:02x}{g:02x}{b:02x}", round(share, 4)))
    return out


def _merge_close(clusters: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Fold clusters that differ by less than a just-noticeable step into their larger twin."""
    merged: list[tuple[np.ndarray, float]] = []
    for center, count in sorted(clusters, key=lambda c: -c[1]):
        # OpenCV's 8-bit Lab scales L by 255/100; undo it for a delta-E-like distance.
        for i, (kept, kept_count) in enumerate(merged):
            diff = (center - kept) * np.array([100 / 255, 1.0, 1.0], dtype=np.float32)
            if float(np.linalg.norm(diff)) < _MERGE_DELTA_E:
                total = kept_count + count
                merged[i] = ((kept * kept_count + center * count) / total, total)
                break
        else:
            merged.append((center, count))
    return merged


def color_name(hex_color: str) -> str:
    """Plain-language name of a hex colour, for captions and tags."""
    r, g, b = (int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, sat, val = colorsys.rgb_to_hsv(r, g, b)
    deg = hue * 360
    if val < 0.18:
        return "black"
    if sat < 0.15 or (sat < 0.25 and val < 0.35):
        return "white" if val > 0.85 else "grey"
    if (deg < 45 or deg >= 345) and val < 0.55 and sat > 0.3:
        return "brown"
    for limit, name in (
        (15, "red"),
        (40, "orange"),
        (68, "yellow"),
        (165, "green"),
        (195, "teal"),
        (255, "blue"),
        (290, "purple"),
        (345, "pink"),
    ):
        if deg < limit:
            return name
    return "red"


def border_tone(rgb: np.ndarray) -> str | None:
    """Describe the frame around the subject ("dark", "light" or a colour), None when busy."""
    h, w = rgb.shape[:2]
    bh, bw = max(1, h // 8), max(1, w // 8)
    strips = [rgb[:bh].reshape(-1, 3), rgb[-bh:].reshape(-1, 3)]
    strips += [rgb[:, :bw].reshape(-1, 3), rgb[:, -bw:].reshape(-1, 3)]
    border = np.concatenate(strips).astype(np.float32)
    luma = border @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0
    mean, spread = float(luma.mean()), float(luma.std())
    if mean < 0.22 and spread < 0.2:
        return "dark"
    if mean > 0.8 and spread < 0.15:
        return "light"
    if spread < 0.08:
        r, g, b = (int(v) for v in border.mean(axis=0))
        return color_name(f"#{r:02x}{g:02x}{b:02x}")
    return None
