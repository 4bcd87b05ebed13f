"""Fast SSIMULACRA2: the reference algorithm, vectorised in float32 with OpenCV.

It follows the `ssimulacra2` Python package (the project's reference) step by step, including
its border handling (zeros left and right, mirrored top and bottom), so scores agree within a
fraction of a point; the source side is computed once and reused for every candidate encode.
Terms with a negligible weight are skipped (see NEGLIGIBLE_WEIGHT), which leaves one channel
of three at the two largest scales. Weights and constants are those of libjxl's ssimulacra2
(BSD-3-Clause).
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

_C2 = 0.0009
_SCALES = 6
_RADIUS = 5
# Rows per band: each band's float planes are built, used and dropped, two threads at a time.
# 64 rows keep a 12 MP score's peak 20-40 MB under 128 (and 128 under 256), at the same scores
# and no more CPU on a 1 MP job (measured: 0.95x).
BAND_ROWS = 64
# Bands are independent; OpenCV and NumPy release the GIL, so threads use every core.
_POOL = ThreadPoolExecutor(
    max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="ssimulacra2"
)
_SIGMA = 1.5
_OPSIN = np.array(
    [[0.30, 0.622, 0.078], [0.23, 0.692, 0.078], [0.24342268924547819, 0.20476744424496821, 0.0]],
    dtype=np.float64,
)
_OPSIN[2, 2] = 1.0 - _OPSIN[2, 0] - _OPSIN[2, 1]
_OPSIN32 = _OPSIN.astype(np.float32)
_OPSIN_BIAS = 0.0037930732552754493
_CBRT_BIAS = float(np.cbrt(_OPSIN_BIAS))
# From cube-rooted opsin (m0, m1, m2) to the positive XYB planes the metric compares.
_TO_POSITIVE_XYB = np.array(
    [
        [7.0, -7.0, 0.0, 0.42],
        [0.5, 0.5, 0.0, 0.01],
        [-0.5, -0.5, 1.0, 0.55],
    ],
    dtype=np.float32,
)
_WEIGHTS = np.array(
    [
        0.0,
        0.0007376606707406586,
        0.0,
        0.0,
        0.0007793481682867309,
        0.0,
        0.0,
        0.0004371155730107379,
        0.0,
        1.1041726426657346,
        0.00066284834129271,
        0.00015231632783718752,
        0.0,
        0.0016406437456599754,
        0.0,
        1.8422455520539298,
        11.441172603757666,
        0.0,
        0.0007989109436015163,
        0.000176816438078653,
        0.0,
        1.8787594979546387,
        10.94906990605142,
        0.0,
        0.0007289346991508072,
        0.9677937080626833,
        0.0,
        0.00014003424285435884,
        0.9981766977854967,
        0.00031949755934435053,
        0.0004550992113792063,
        0.0,
        0.0,
        0.0013648766163243398,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        7.466890328078848,
        0.0,
        17.445833984131262,
        0.0006235601634041466,
        0.0,
        0.0,
        6.683678146179332,
        0.00037724407979611296,
        1.027889937768264,
        225.20515300849274,
        0.0,
        0.0,
        19.213238186143016,
        0.0011401524586618361,
        0.001237755635509985,
        176.39317598450694,
        0.0,
        0.0,
        24.43300999870476,
        0.28520802612117757,
        0.0004485436923833408,
        0.0,
        0.0,
        0.0,
        34.77906344483772,
        44.835625328877896,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0008680556573291698,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0005313191874358747,
        0.0,
        0.00016533814161379112,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0004179171803251336,
        0.0017290828234722833,
        0.0,
        0.0020827005846636437,
        0.0,
        0.0,
        8.826982764996862,
        23.19243343998926,
        0.0,
        95.1080498811086,
        0.9863978034400682,
        0.9834382792465353,
        0.0012286405048278493,
        171.2667255897307,
        0.9807858872435379,
        0.0,
        0.0,
        0.0,
        0.0005130064588990679,
        0.0,
        0.00010854057858411537,
    ],
    dtype=np.float64,
)

# Sums whose weight is below this are not computed. Half the weights are zero and most of the
# rest are under 0.002, against 1 to 225 for those that matter: on 140 corpus pairs leaving
# them out moved no score by more than 0.0015 points, and it leaves only Y at the full and
# half scales (most of the work) and no work at all at the smallest scale.
NEGLIGIBLE_WEIGHT = 0.01


@functools.cache
def _norms_used(scales: int) -> np.ndarray:
    """Which sums count: (channel, scale, norm (mean, 4-norm), term (ssim, artifact, detail
    lost)). Like the reference, an image too small for six scales takes the weights in order,
    so the table depends on the number of scales."""
    weights = _WEIGHTS[: 3 * scales * 6].reshape(3, scales, 2, 3)
    return np.asarray(np.abs(weights) >= NEGLIGIBLE_WEIGHT, dtype=bool)


@functools.cache
def _terms_used(scales: int) -> np.ndarray:
    """(channel, scale, term): whether any norm of the term counts."""
    return np.asarray(_norms_used(scales).any(axis=2), dtype=bool)


@functools.cache
def _channels_used(scales: int, scale: int) -> tuple[bool, bool, bool]:
    used = np.asarray(_terms_used(scales)[:, scale].any(axis=1), dtype=bool)
    return bool(used[0]), bool(used[1]), bool(used[2])


def _kernel() -> np.ndarray:
    x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / _SIGMA) ** 2)
    return (k / k.sum()).astype(np.float32)


_KERNEL = _kernel()
_SRGB_TO_LINEAR = np.where(
    np.arange(256) / 255.0 <= 0.04045,
    np.arange(256) / 255.0 / 12.92,
    ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4,
).astype(np.float32)


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB (H, W, 3) to linear float32 by table lookup."""
    return cv2.LUT(np.ascontiguousarray(rgb), _SRGB_TO_LINEAR)


def _xyb_planes(linear: np.ndarray, wanted: tuple[bool, bool, bool]) -> list[np.ndarray | None]:
    """Linear RGB to the wanted positive XYB planes (X, Y, B-Y), each with `_RADIUS` zero
    columns either side: the reference blurs with zeros beyond the left and right edges, so
    one two-way filter call then gives exactly its result. (All three are converted: OpenCV's
    3x3 colour transform is ten times faster than any narrower one.)"""
    mixed = np.asarray(cv2.transform(linear, _OPSIN32), dtype=np.float32)
    mixed += np.float32(_OPSIN_BIAS)
    np.maximum(mixed, 0.0, out=mixed)
    cubed = np.cbrt(mixed, out=mixed)  # 4x faster than cv2.pow(mixed, 1/3)
    cubed -= np.float32(_CBRT_BIAS)
    xyb = cv2.transform(cubed, _TO_POSITIVE_XYB)
    padded = cv2.copyMakeBorder(xyb, 0, 0, _RADIUS, _RADIUS, cv2.BORDER_CONSTANT, value=0.0)
    if all(wanted):
        return list(cv2.split(padded))
    return [cv2.extractChannel(padded, c) if wanted[c] else None for c in range(3)]


def _blur(img: np.ndarray) -> np.ndarray:
    """Gaussian (sigma 1.5, radius 5), mirrored on y; on x the zero padding is the border."""
    return cv2.sepFilter2D(img, -1, _KERNEL, _KERNEL, borderType=cv2.BORDER_REFLECT)


def _downsample(linear: np.ndarray) -> np.ndarray:
    """2x2 box average; a last odd row or column averages only the pixels it has."""
    h, w = linear.shape[:2]
    if h % 2 or w % 2:
        linear = cv2.copyMakeBorder(linear, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cv2.resize(linear, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


def _norms(plane: np.ndarray, wanted: np.ndarray) -> tuple[float, float]:
    """Sum and sum of fourth powers of a non-negative plane, in double; only the wanted ones."""
    plain = cv2.sumElems(plane)[0] if wanted[0] else 0.0
    if not wanted[1]:
        return plain, 0.0
    squared = cv2.multiply(plane, plane)
    return plain, cv2.norm(squared, cv2.NORM_L2SQR)


@dataclass(frozen=True)
class _Band:
    """Output rows [start, stop), computed from rows [lo, hi) so that the blur is exact."""

    start: int
    stop: int
    lo: int
    hi: int

    @property
    def core(self) -> slice:
        return slice(self.start - self.lo, self.stop - self.lo)


def _bands(height: int) -> list[_Band]:
    return [
        _Band(
            r, min(r + BAND_ROWS, height), max(0, r - _RADIUS), min(height, r + BAND_ROWS + _RADIUS)
        )
        for r in range(0, height, BAND_ROWS)
    ]


@dataclass
class _SourceBand:
    """What the score needs from the source in one band, per channel (None where unused)."""

    x: list[np.ndarray | None]
    mu: list[np.ndarray | None]
    variance: list[np.ndarray | None]  # sigma^2 - mu^2 + C2
    edge: list[np.ndarray | None]  # 1 + |x - mu|


def _source_band(linear: np.ndarray, scale: int, scales: int) -> _SourceBand:
    band = _SourceBand([None] * 3, [None] * 3, [None] * 3, [None] * 3)
    for c, x in enumerate(_xyb_planes(linear, _channels_used(scales, scale))):
        if x is None:
            continue
        ssim, artifact, lost = _terms_used(scales)[c, scale]
        mu = _blur(x)
        if ssim:
            variance = _blur(x * x)
            variance -= mu * mu
            variance += np.float32(_C2)
            band.x[c], band.mu[c], band.variance[c] = x, mu, variance
        if artifact or lost:
            edge = np.asarray(cv2.absdiff(x, mu), dtype=np.float32)
            edge += np.float32(1.0)
            band.edge[c] = edge
    return band


class _ImageRows:
    """An RGB image's 8-bit rows read from the image itself, a band at a time: the engine
    keeps the source image for its encoders, and an array copy of it for the metric cost a
    12 MP job 36 MB for the whole job."""

    def __init__(self, image: Image.Image) -> None:
        if image.mode != "RGB":
            raise ValueError("the metric reads RGB images")
        image.load()
        self._image = image
        self.shape = (image.height, image.width, 3)
        self._lock = threading.Lock()  # bands are read from the pool's threads

    def __getitem__(self, rows: slice) -> np.ndarray:
        top, bottom, _ = rows.indices(self.shape[0])
        with self._lock:
            return np.asarray(self._image.crop((0, top, self.shape[1], bottom)))


class Ssimulacra2:
    """SSIMULACRA2 against one source image; `score()` any number of distorted versions.

    Work is done in bands of rows. The full scale is never held in floats: its bands are
    linearised from the 8-bit pixels as they are needed, and the half scale is built band by
    band, so peak memory stays near the 8-bit image plus a third of one linear image. Small
    sources (the search mosaics) keep their per-band planes between scores. A source given as
    an RGB image is read from that image, band by band, never copied whole.
    """

    CACHE_MAX_PIXELS = 1_500_000

    def __init__(self, source_rgb: np.ndarray | Image.Image, cache: bool | None = None) -> None:
        """`cache` keeps the source planes whatever the size (None: only for small sources),
        so building this ahead, e.g. while the encoder runs, leaves half the work for score()."""
        if isinstance(source_rgb, Image.Image):
            source: np.ndarray | _ImageRows = _ImageRows(source_rgb)
        else:
            source = np.ascontiguousarray(source_rgb)
        self.shape = source.shape
        self._pyramid = _pyramid(source)
        self._cache: dict[tuple[int, int], _SourceBand] | None = None
        if cache is None:
            cache = self.shape[0] * self.shape[1] <= self.CACHE_MAX_PIXELS
        if cache:
            scales = len(self._pyramid)
            self._cache = {
                (s, i): _source_band(_linear_rows(level, s, band.lo, band.hi), s, scales)
                for s, level in enumerate(self._pyramid)
                if any(_channels_used(scales, s))
                for i, band in enumerate(_bands(level.shape[0]))
            }

    def score(self, distorted_rgb: np.ndarray) -> float:
        """Score 100 for identical images, about 90 visually lossless, 70 high quality."""
        if distorted_rgb.shape != self.shape:
            raise ValueError("the distorted image must have the source's size")
        scales = len(self._pyramid)
        # Per channel and scale: sums of d, d^4, artifact, artifact^4, detail lost, lost^4.
        sums = np.zeros((3, scales, 6))
        distorted = _pyramid(distorted_rgb)
        for s, (source, level) in enumerate(zip(self._pyramid, distorted, strict=True)):
            if not any(_channels_used(scales, s)):
                continue
            jobs = [(s, i, band, source, level) for i, band in enumerate(_bands(level.shape[0]))]
            for band_sums in _POOL.map(lambda job: self._band(*job), jobs):
                sums[:, s] += band_sums
            sums[:, s] /= level.shape[0] * level.shape[1]
        sums[..., 1::2] **= 0.25
        return _final_score(sums[..., :2], sums[..., 2:])

    def _band(
        self, s: int, i: int, band: _Band, source: np.ndarray | _ImageRows, level: np.ndarray
    ) -> np.ndarray:
        """Sums for every channel of one band of one scale."""
        cached = self._cache.get((s, i)) if self._cache is not None else None
        scales = len(self._pyramid)
        src = cached or _source_band(_linear_rows(source, s, band.lo, band.hi), s, scales)
        rows = _linear_rows(level, s, band.lo, band.hi)
        planes = _xyb_planes(rows, _channels_used(scales, s))
        return _band_sums(src, planes, band.core, s, scales)


def _pyramid(rgb: np.ndarray | _ImageRows) -> list[np.ndarray | _ImageRows]:
    """The scales the metric compares: the 8-bit image itself, then linear float32 images of
    half the size each, while both sides stay at least 8 pixels (at most six scales)."""
    if isinstance(rgb, np.ndarray):
        rgb = np.ascontiguousarray(rgb)
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        return []
    levels: list[np.ndarray | _ImageRows] = [rgb]
    half = _halved_in_bands(rgb)
    while len(levels) < _SCALES and half.shape[0] >= 8 and half.shape[1] >= 8:
        levels.append(half)
        half = _downsample(half)
    return levels


def _halved_in_bands(rgb: np.ndarray | _ImageRows) -> np.ndarray:
    """`_downsample(to_linear(rgb))`, linearising an even number of rows at a time so the full
    scale never exists in floats (the 2x2 averages are the same either way)."""
    h, w = rgb.shape[:2]
    out = np.empty(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32)
    step = 2 * BAND_ROWS
    for top in range(0, h, step):
        bottom = min(h, top + step)
        out[top // 2 : (bottom + 1) // 2] = _downsample(to_linear(rgb[top:bottom]))
    return out


def _linear_rows(level: np.ndarray | _ImageRows, scale: int, lo: int, hi: int) -> np.ndarray:
    """Rows [lo, hi) of one scale in linear light (the full scale is kept in 8 bits)."""
    return to_linear(level[lo:hi]) if scale == 0 else level[lo:hi]


def _band_sums(
    src: _SourceBand, planes: list[np.ndarray | None], core: slice, scale: int, scales: int
) -> np.ndarray:
    """(3, 6) per channel: sums of d, d^4, artifact, artifact^4, detail lost, lost^4."""
    sums = np.zeros((3, 6))
    for c, x in enumerate(planes):
        if x is None:
            continue
        cols = slice(_RADIUS, x.shape[1] - _RADIUS)
        ssim, artifact, lost = _terms_used(scales)[c, scale]
        wanted = _norms_used(scales)[c, scale]
        mu = _blur(x)
        if ssim:
            d = _ssim_distance(src, c, x, mu)
            sums[c, 0:2] = _norms(d[core, cols], wanted[:, 0])
        if artifact or lost:
            src_edge = src.edge[c]
            assert src_edge is not None
            ratio = np.asarray(cv2.absdiff(x, mu), dtype=np.float32)
            ratio += np.float32(1.0)
            ratio /= src_edge
            ratio -= np.float32(1.0)
            if artifact:
                sums[c, 2:4] = _norms(np.maximum(ratio, 0.0)[core, cols], wanted[:, 1])
            if lost:
                np.negative(ratio, out=ratio)
                np.maximum(ratio, 0.0, out=ratio)
                sums[c, 4:6] = _norms(ratio[core, cols], wanted[:, 2])
    return sums


def _ssim_distance(src: _SourceBand, c: int, x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """max(0, 1 - SSIM) per pixel of channel `c`, against the source's prepared planes."""
    src_x, src_mu, src_variance = src.x[c], src.mu[c], src.variance[c]
    assert src_x is not None and src_mu is not None and src_variance is not None
    cross = _blur(src_x * x)
    cross -= src_mu * mu
    cross *= np.float32(2.0)
    cross += np.float32(_C2)  # numerator of the structure term
    denom = _blur(x * x)
    denom -= mu * mu
    denom += src_variance
    diff = src_mu - mu
    diff *= diff
    np.subtract(np.float32(1.0), diff, out=diff)  # numerator of the mean term
    diff *= cross
    diff /= denom
    np.subtract(np.float32(1.0), diff, out=diff)
    np.maximum(diff, 0.0, out=diff)
    return diff


def _final_score(ssim: np.ndarray, edges: np.ndarray) -> float:
    """Weighted sum in the reference's order (channel, scale, norm), then the fitted curve."""
    total = 0.0
    i = 0
    for c in range(3):
        for s in range(ssim.shape[1]):
            for n in range(2):
                total += _WEIGHTS[i] * abs(ssim[c, s, n])
                total += _WEIGHTS[i + 1] * abs(edges[c, s, n])
                total += _WEIGHTS[i + 2] * abs(edges[c, s, n + 2])
                i += 3
    total *= 0.9562382616834844
    total = (
        2.326765642916932 * total
        - 0.020884521182843837 * total * total
        + 6.248496625763138e-05 * total * total * total
    )
    if total <= 0:
        return 100.0
    return float(100.0 - 10.0 * total**0.6276336467831387)


def ssimulacra2(source_rgb: np.ndarray, distorted_rgb: np.ndarray) -> float:
    """One-off score of two 8-bit RGB arrays of the same size."""
    return Ssimulacra2(source_rgb).score(distorted_rgb)
