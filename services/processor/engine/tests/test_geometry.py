"""Resize plans for every fit, never enlarging unless asked; crops follow the subject."""

from __future__ import annotations

import numpy as np
from PIL import Image

from services.processor.engine.focus import crop_box, focus_point
from services.processor.engine.geometry import plan


def test_no_size_keeps_the_source() -> None:
    p = plan(400, 300, None, None)
    assert (p.out_w, p.out_h) == (400, 300)


def test_width_only_keeps_aspect() -> None:
    p = plan(400, 300, 200, None)
    assert (p.out_w, p.out_h) == (200, 150)


def test_height_only_keeps_aspect() -> None:
    p = plan(400, 300, None, 150)
    assert (p.out_w, p.out_h) == (200, 150)


def test_inside_fits_the_box() -> None:
    p = plan(400, 300, 100, 100, "inside")
    assert (p.out_w, p.out_h) == (100, 75)


def test_contain_pads_to_the_box() -> None:
    p = plan(400, 300, 100, 100, "contain")
    assert (p.scaled_w, p.scaled_h, p.out_w, p.out_h, p.mode) == (100, 75, 100, 100, "pad")


def test_cover_fills_and_crops() -> None:
    p = plan(400, 300, 100, 100, "cover")
    assert (p.scaled_w, p.scaled_h, p.out_w, p.out_h, p.mode) == (133, 100, 100, 100, "crop")


def test_fill_stretches() -> None:
    p = plan(400, 300, 100, 100, "fill")
    assert (p.out_w, p.out_h) == (100, 100)


def test_never_enlarges_unless_asked() -> None:
    assert (plan(400, 300, 800, None).out_w, plan(400, 300, 800, None).out_h) == (400, 300)
    assert plan(400, 300, 800, 800, "inside").out_w == 400
    assert plan(400, 300, 800, 800, "fill").out_w == 400
    assert plan(400, 300, 800, None, enlarge=True).out_w == 800


def test_crop_box_stays_inside_and_near_focus() -> None:
    assert crop_box((400, 100), (100, 100), (0.9, 0.5)) == (300, 0, 400, 100)
    assert crop_box((400, 100), (100, 100), (0.0, 0.5)) == (0, 0, 100, 100)
    assert crop_box((400, 100), (100, 100), (0.5, 0.5)) == (150, 0, 250, 100)


def test_focus_finds_an_off_centre_subject() -> None:
    rng = np.random.default_rng(3)
    arr = np.full((200, 600, 3), 120, np.uint8)
    arr[60:140, 470:560] = rng.integers(0, 255, (80, 90, 3), dtype=np.uint8)
    fx, _ = focus_point(Image.fromarray(arr))
    assert fx > 0.7
