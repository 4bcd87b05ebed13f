"""Deterministic synthetic images with known answers: text on photos, faces, UIs, pages, charts.

Fonts come from Pillow itself (`ImageFont.load_default(size=...)`, a scalable face shipped in
the Pillow wheel), so the set is identical on every machine without system fonts.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage import data as skdata

PHRASES = (
    "OPEN 24 HOURS",
    "Fresh Coffee $3.50",
    "Welcome to Lisbon",
    "SALE 50% OFF",
    "Platform 9",
    "No Parking",
    "Exit Only",
    "Harbour Tours Daily",
    "Mind the Gap",
    "Bakery & Cafe",
    "Route 66",
    "Happy Birthday Anna",
    "PRIVATE PROPERTY",
    "Gate B12",
    "Free WiFi Inside",
    "Closed on Sundays",
    "Library",
    "Summer Festival 2025",
    "Keep Left",
    "Ticket Office",
    "Fish Market",
    "Do Not Enter",
    "Museum of Art",
    "Bike Lane",
    "Hotel Central",
    "Fire Exit",
    "Room 204",
    "Pharmacy",
    "Beach Access",
    "Live Music Tonight",
)

WORDS = (
    "the",
    "service",
    "stores",
    "every",
    "image",
    "with",
    "a",
    "short",
    "retention",
    "window",
    "and",
    "a",
    "clear",
    "record",
    "of",
    "what",
    "was",
    "done",
    "to",
    "it",
    "so",
    "that",
    "customers",
    "can",
    "verify",
    "each",
    "step",
    "of",
    "the",
    "pipeline",
    "while",
    "operators",
    "keep",
    "control",
    "of",
    "costs",
    "quality",
    "targets",
    "and",
    "formats",
    "across",
    "accounts",
    "projects",
    "and",
    "teams",
    "over",
    "time",
)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def text_on_photo(photo: Image.Image, phrase: str, rng: random.Random) -> Image.Image:
    """Render one phrase on a photo as a sign, a caption or a plain overlay."""
    img = photo.convert("RGB").copy()
    w, h = img.size
    size = max(22, int(min(w, h) * rng.uniform(0.06, 0.1)))
    fnt = font(size)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((0, 0), phrase, font=fnt)
    tw, th = int(right - left), int(bottom - top)
    while tw > w * 0.9 and size > 14:
        size -= 2
        fnt = font(size)
        left, top, right, bottom = draw.textbbox((0, 0), phrase, font=fnt)
        tw, th = int(right - left), int(bottom - top)
    x = rng.randint(int(w * 0.03), max(int(w * 0.03), w - tw - int(w * 0.03)))
    y = rng.choice(
        [rng.randint(int(h * 0.04), int(h * 0.25)), rng.randint(int(h * 0.65), h - th - 12)]
    )
    style = rng.choice(("plate_light", "plate_dark", "outline"))
    pad = size // 3
    if style == "plate_light":
        draw.rectangle((x - pad, y - pad, x + tw + pad, y + th + pad + 4), fill=(245, 243, 235))
        draw.text((x - left, y - top), phrase, font=fnt, fill=(20, 20, 20))
    elif style == "plate_dark":
        draw.rectangle((x - pad, y - pad, x + tw + pad, y + th + pad + 4), fill=(25, 60, 120))
        draw.text((x - left, y - top), phrase, font=fnt, fill=(255, 255, 255))
    else:
        draw.text(
            (x - left, y - top),
            phrase,
            font=fnt,
            fill=(255, 255, 255),
            stroke_width=max(2, size // 14),
            stroke_fill=(0, 0, 0),
        )
    return img


def face_tiles(count: int, rng: random.Random) -> list[Image.Image]:
    """Faces to paste: the astronaut's (with context) and upscaled LFW faces from scikit-image."""
    astro = Image.fromarray(skdata.astronaut())
    tiles = [astro.crop((150, 40, 300, 190))]
    lfw = skdata.lfw_subset()[:100]
    for idx in rng.sample(range(100), count):
        gray = Image.fromarray((lfw[idx] * 255).astype(np.uint8)).convert("RGB")
        tiles.append(gray)
    rng.shuffle(tiles)
    return tiles[:count]


def faces_on_photo(photo: Image.Image, count: int, rng: random.Random) -> Image.Image:
    """Paste `count` faces side by side, spaced so they never overlap."""
    img = photo.convert("RGB").resize((900, 600))
    tiles = face_tiles(count, rng)
    slot = 900 // max(1, count)
    for i, tile in enumerate(tiles):
        side = rng.randint(120, min(200, slot - 20))
        x = i * slot + rng.randint(5, max(5, slot - side - 5))
        y = rng.randint(60, 600 - side - 60)
        img.paste(tile.resize((side, side), Image.Resampling.BICUBIC), (x, y))
    return img


def _paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    fnt: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=fnt) > width and current:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


def document(rng: random.Random) -> Image.Image:
    """A printed page: title, paragraphs, sometimes a table; sometimes scanned-looking."""
    w, h = rng.choice(((850, 1100), (1000, 1414), (800, 1000)))
    paper = rng.choice(((255, 255, 255), (250, 248, 240), (242, 240, 235)))
    img = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(img)
    margin = int(w * rng.uniform(0.08, 0.12))
    y = margin
    title = font(int(w * 0.04))
    draw.text((margin, y), _paragraph(rng, rng.randint(3, 6))[:40], font=title, fill=(10, 10, 10))
    y += int(w * 0.08)
    body = font(int(w * rng.uniform(0.018, 0.024)))
    line_h = int(body.size * 1.45) if isinstance(body, ImageFont.FreeTypeFont) else 16
    while y < h - margin - line_h * 4:
        if rng.random() < 0.15:
            cols = rng.randint(3, 4)
            col_w = (w - 2 * margin) // cols
            for r in range(rng.randint(3, 6)):
                for c in range(cols):
                    draw.rectangle(
                        (margin + c * col_w, y, margin + (c + 1) * col_w, y + line_h + 6),
                        outline=(60, 60, 60),
                    )
                    draw.text(
                        (margin + c * col_w + 6, y + 3),
                        f"{rng.randint(1, 999)}.{r}{c}",
                        font=body,
                        fill=(20, 20, 20),
                    )
                y += line_h + 6
            y += line_h
            continue
        for line in _wrap(draw, _paragraph(rng, rng.randint(25, 60)), body, w - 2 * margin):
            if y > h - margin - line_h:
                break
            draw.text((margin, y), line, font=body, fill=(25, 25, 25))
            y += line_h
        y += line_h
    if rng.random() < 0.4:
        img = img.rotate(rng.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC, fillcolor=paper)
        noise = np.random.default_rng(rng.randint(0, 9999)).normal(0, 6, (h, w, 1))
        img = Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8))
    return img


def screenshot(rng: random.Random) -> Image.Image:
    """An application window, a web page or a terminal, drawn with flat UI colours."""
    variant = rng.choice(("app", "web", "terminal"))
    w, h = rng.choice(((1280, 800), (1024, 768), (1440, 900)))
    if variant == "terminal":
        img = Image.new("RGB", (w, h), rng.choice(((12, 12, 12), (30, 30, 46), (0, 43, 54))))
        draw = ImageDraw.Draw(img)
        draw.rectangle((0, 0, w, 32), fill=(60, 60, 60))
        for i, color in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
            draw.ellipse((12 + i * 22, 9, 26 + i * 22, 23), fill=color)
        fnt = font(18)
        y = 44
        while y < h - 30:
            prompt = rng.choice(("$ ", "> ", "", ""))
            draw.text(
                (12, y),
                prompt + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))),
                font=fnt,
                fill=rng.choice(((200, 200, 200), (120, 220, 120), (230, 230, 120))),
            )
            y += 26
        return img
    bg = rng.choice(((255, 255, 255), (246, 247, 249), (32, 33, 36)))
    fg = (30, 30, 30) if sum(bg) > 400 else (230, 230, 230)
    accent = rng.choice(((26, 115, 232), (220, 53, 69), (40, 167, 69), (111, 66, 193)))
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, 56), fill=accent)
    draw.text(
        (20, 14),
        "Picture Optimizer" if variant == "web" else "Settings",
        font=font(24),
        fill=(255, 255, 255),
    )
    side = 0
    if variant == "app" or rng.random() < 0.5:
        side = int(w * 0.2)
        draw.rectangle((0, 56, side, h), fill=tuple(max(0, c - 18) for c in bg))
        for i in range(rng.randint(5, 10)):
            draw.text((20, 80 + i * 40), rng.choice(WORDS).capitalize(), font=font(18), fill=fg)
    x0 = side + 30
    y = 90
    draw.text((x0, y), _paragraph(rng, 4)[:30], font=font(30), fill=fg)
    y += 60
    while y < h - 120:
        block = rng.choice(("text", "buttons", "field", "card"))
        if block == "buttons":
            for i in range(rng.randint(2, 4)):
                draw.rounded_rectangle(
                    (x0 + i * 150, y, x0 + i * 150 + 130, y + 40), 6, fill=accent
                )
                draw.text(
                    (x0 + i * 150 + 16, y + 10),
                    rng.choice(WORDS).capitalize(),
                    font=font(18),
                    fill=(255, 255, 255),
                )
            y += 70
        elif block == "field":
            draw.text((x0, y), rng.choice(WORDS).capitalize(), font=font(16), fill=fg)
            draw.rectangle((x0, y + 24, x0 + 420, y + 60), outline=(160, 160, 160), fill=bg)
            y += 80
        elif block == "card":
            draw.rounded_rectangle(
                (x0, y, w - 40, y + 110),
                8,
                outline=(200, 200, 200),
                fill=tuple(min(255, c + 6) for c in bg),
            )
            draw.text((x0 + 16, y + 14), _paragraph(rng, 5)[:40], font=font(20), fill=fg)
            draw.text((x0 + 16, y + 50), _paragraph(rng, 9)[:70], font=font(16), fill=fg)
            y += 130
        else:
            for line in _wrap(draw, _paragraph(rng, 30), font(17), w - x0 - 60)[:3]:
                draw.text((x0, y), line, font=font(17), fill=fg)
                y += 26
            y += 20
    return img


def graphic(rng: random.Random) -> Image.Image:
    """A chart, a logo or a flat illustration."""
    variant = rng.choice(("bars", "pie", "logo", "flat", "line"))
    w, h = rng.choice(((800, 600), (600, 600), (1000, 500)))
    bg = rng.choice(((255, 255, 255), (250, 250, 250), (20, 24, 38), (255, 244, 214)))
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    palette = [(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)) for _ in range(6)]
    ink = (40, 40, 40) if sum(bg) > 400 else (230, 230, 230)
    if variant == "bars":
        n = rng.randint(4, 8)
        bw = (w - 120) // n
        draw.line((60, 40, 60, h - 60), fill=ink, width=2)
        draw.line((60, h - 60, w - 40, h - 60), fill=ink, width=2)
        for i in range(n):
            bh = rng.randint(40, h - 140)
            draw.rectangle(
                (70 + i * bw, h - 60 - bh, 60 + (i + 1) * bw - 10, h - 61), fill=palette[i % 6]
            )
            draw.text((70 + i * bw, h - 50), f"Q{i + 1}", font=font(16), fill=ink)
    elif variant == "line":
        draw.line((60, 40, 60, h - 60), fill=ink, width=2)
        draw.line((60, h - 60, w - 40, h - 60), fill=ink, width=2)
        for s in range(rng.randint(1, 3)):
            pts = [(60 + i * (w - 100) // 10, rng.randint(60, h - 80)) for i in range(11)]
            draw.line(pts, fill=palette[s], width=4)
    elif variant == "pie":
        start = 0.0
        for i in range(rng.randint(3, 6)):
            extent = rng.uniform(30, 120)
            draw.pieslice(
                (w // 2 - 200, h // 2 - 200, w // 2 + 200, h // 2 + 200),
                start,
                min(360, start + extent),
                fill=palette[i],
            )
            start += extent
        draw.pieslice(
            (w // 2 - 200, h // 2 - 200, w // 2 + 200, h // 2 + 200), start, 360, fill=palette[5]
        )
    elif variant == "logo":
        cx, cy = w // 2, h // 2 - 40
        draw.ellipse((cx - 120, cy - 120, cx + 120, cy + 120), fill=palette[0])
        draw.polygon([(cx, cy - 90), (cx + 80, cy + 60), (cx - 80, cy + 60)], fill=palette[1])
        draw.text((cx - 150, cy + 150), rng.choice(WORDS).upper(), font=font(48), fill=ink)
    else:
        for _ in range(rng.randint(8, 20)):
            x, y = rng.randint(0, w), rng.randint(0, h)
            r = rng.randint(20, 140)
            shape = rng.choice((draw.ellipse, draw.rectangle))
            shape((x - r, y - r, x + r, y + r), fill=rng.choice(palette))
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.SMOOTH)
    return img
