"""OCR recall on clear rendered text: plain screenshots with body text at 14-32 px.

Pages are drawn with DejaVu Sans (shipped in matplotlib's wheel): a window-sized canvas,
dark text on a light background (and light on dark), several sentences per page at one size.
Recall is the share of the rendered words found among the words the provider read.
"""

from __future__ import annotations

import io
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZES = (14, 16, 18, 22, 26, 32)
SENTENCES = (
    "Your order has shipped and will arrive on Tuesday.",
    "Click the blue button to save your changes.",
    "The meeting moved to room 204 at half past three.",
    "Invoices older than ninety days are archived automatically.",
    "Enter the six digit code we sent to your phone.",
    "Battery saver turns on when the charge drops below 20 percent.",
    "Drag files here or browse to upload them.",
    "Weekly report: revenue grew by 12 percent in March.",
    "Please restart the application to finish the update.",
    "Search results for quiet coffee shops near the station.",
    "Your subscription renews on the first day of each month.",
    "Two new comments were added to the design document.",
)


def font_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@dataclass(frozen=True)
class Page:
    name: str
    size: int
    data: bytes
    words: list[str]


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def pages(seed: int = 17) -> Iterator[Page]:
    """Two pages per text size (light and dark theme), 4-6 sentences each, 1280 x 800."""
    rng = random.Random(seed)
    for size in SIZES:
        font = ImageFont.truetype(str(font_path()), size)
        for theme, (bg, fg) in (
            ("light", ("#ffffff", "#202124")),
            ("dark", ("#1e1e1e", "#e8e8e8")),
        ):
            canvas = Image.new("RGB", (1280, 800), bg)
            draw = ImageDraw.Draw(canvas)
            draw.rectangle((0, 0, 1280, 36), fill="#dadce0" if theme == "light" else "#333333")
            lines = rng.sample(SENTENCES, rng.randint(4, 6))
            y = 70
            for line in lines:
                draw.text((48, y), line, fill=fg, font=font)
                y += int(size * 2.2)
            buf = io.BytesIO()
            canvas.save(buf, "PNG")
            yield Page(f"{theme}_{size}px", size, buf.getvalue(), words_of(" ".join(lines)))


def recall(expected: list[str], read: list[str]) -> tuple[int, int]:
    """Words found (each read word counts once) and words rendered."""
    found = Counter(words_of(" ".join(read)))
    hits = 0
    for word in expected:
        if found[word] > 0:
            found[word] -= 1
            hits += 1
    return hits, len(expected)


def run() -> dict[str, tuple[int, int]]:
    """Recall per text size with the local provider (decode + analyse, as in a job)."""
    from services.vision.providers import get_provider, prepare_image

    provider = get_provider("local", {"VISION_LOCAL_THREADS": "1"})
    by_size: dict[str, tuple[int, int]] = {}
    for page in pages():
        meta = provider.analyze(prepare_image(page.data))
        hits, total = recall(page.words, [t.text for t in meta.detected_text])
        h0, t0 = by_size.get(f"{page.size}", (0, 0))
        by_size[f"{page.size}"] = (h0 + hits, t0 + total)
    return by_size
