"""The ``pixels`` baseline: hand-made JPEG-domain statistics of the raw pixels.

This encoder has no parameters. It is the reference row of every audit: it
shows which processing traces are present in the pixels at all, so that a
learned encoder scoring near it "sees" what there is to see, and one scoring
near chance has thrown it away.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from scipy.fft import dctn

from auditkit.encoders.base import Encoder

#: JFIF RGB -> YCbCr matrix (offset 128 on the chroma rows is added separately).
_JFIF = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ],
    dtype=np.float32,
)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0], dtype=np.float32)
#: Candidate quantisation steps; they cover the IJG tables at qualities 75-95
#: for the low frequencies, where coefficients are rarely zero.
_STEPS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16)
_MIN_SIDE = 16
_EPS = 1e-6
_U, _V = np.divmod(np.arange(64), 8)
#: Anti-diagonal (u + v) of each frequency: 15 bands, a coarse frequency axis.
_BAND = _U + _V
_HIGH = (_U >= 4) | (_V >= 4)


def _ycbcr(image: Image.Image) -> np.ndarray:
    """Float ``(3, H, W)`` YCbCr without the uint8 rounding of ``convert("YCbCr")``.

    Skipping the rounding keeps DCT coefficients of a decoded JPEG within about
    0.2 of the dequantised grid, which is what the step statistics rely on.
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = rgb.shape[:2]
    if h < _MIN_SIDE or w < _MIN_SIDE:
        pad = ((0, max(0, _MIN_SIDE - h)), (0, max(0, _MIN_SIDE - w)), (0, 0))
        rgb = np.pad(rgb, pad, mode="edge")
    ycc = rgb @ _JFIF.T + _CHROMA_OFFSET
    return np.ascontiguousarray(ycc.transpose(2, 0, 1))


def _block_dct(planes: np.ndarray) -> np.ndarray:
    """Orthonormal 8x8 block DCT of ``(C, H, W)`` planes -> ``(C, blocks, 64)``.

    Blocks start at the top-left corner, as the JPEG grid does; the ragged
    right and bottom edges are dropped rather than padded so no fake block
    enters the statistics.
    """
    c, h, w = planes.shape
    h8, w8 = h // 8 * 8, w // 8 * 8
    blocks = planes[:, :h8, :w8].reshape(c, h8 // 8, 8, w8 // 8, 8).transpose(0, 1, 3, 2, 4)
    coefs = dctn(blocks - 128.0, axes=(3, 4), norm="ortho")
    return coefs.reshape(c, -1, 64)


def _band_mean(values: np.ndarray) -> np.ndarray:
    """Average ``(C, 64)`` per-frequency values over the 15 anti-diagonals."""
    sums = np.stack([np.bincount(_BAND, weights=row, minlength=15) for row in values])
    return sums / np.bincount(_BAND, minlength=15)


def _step_scores(rounded: np.ndarray) -> np.ndarray:
    """How strongly non-zero coefficients sit on multiples of a step, ``(C, 64)``.

    For each candidate step ``s`` the fraction of non-zero rounded magnitudes
    divisible by ``s`` is rescaled so chance (``1/s``) maps to 0 and a perfect
    grid to 1. The score is then weighted by ``log s`` and maximised over
    ``s``, giving roughly ``log(step)`` for a quantised frequency and 0 for an
    unquantised one. It is shrunk towards 0 when few coefficients are non-zero,
    where divisibility is luck.
    """
    nonzero = rounded > 0
    count = nonzero.sum(axis=1)
    best = np.zeros(count.shape)
    for step in _STEPS:
        hits = (nonzero & (rounded % step == 0)).sum(axis=1)
        frac = hits / np.maximum(count, 1)
        score = np.clip((frac - 1.0 / step) / (1.0 - 1.0 / step), 0.0, 1.0)
        best = np.maximum(best, np.log(step) * score)
    return best * count / (count + 10.0)


def _coef_features(coefs: np.ndarray, steps: bool) -> list[np.ndarray]:
    """Per-frequency zero fraction, step score and band-pooled log magnitude."""
    magnitude = np.abs(coefs)
    rounded = np.rint(magnitude).astype(np.int32)
    zero = (rounded == 0).mean(axis=1)
    log_mag = np.log(magnitude.mean(axis=1) + _EPS)
    high = (magnitude[:, :, _HIGH] ** 2).sum(axis=(1, 2))
    low = (magnitude[:, :, ~_HIGH][:, :, 1:] ** 2).sum(axis=(1, 2))
    # High/low AC energy: upsampled 4:2:0 chroma has almost none above u,v=4.
    ratio = np.log((high + _EPS) / (low + _EPS))
    out = [zero.ravel(), _band_mean(log_mag).ravel(), ratio]
    if steps:
        out.append(_step_scores(rounded).ravel())
    return out


def _half_res_chroma(ycc: np.ndarray) -> np.ndarray:
    """Cb, Cr averaged over 2x2 on the 16-pixel MCU grid: the 4:2:0 sampling grid."""
    _, h, w = ycc.shape
    h16, w16 = h // 16 * 16, w // 16 * 16
    chroma = ycc[1:, :h16, :w16].reshape(2, h16 // 2, 2, w16 // 2, 2)
    return chroma.mean(axis=(2, 4))


def _noise_features(ycc: np.ndarray) -> np.ndarray:
    """Log std, log mean |r| and excess kurtosis of a Laplacian residual per channel.

    A 4-neighbour residual instead of a median filter: ten times cheaper and
    it isolates the same sensor and rounding noise.
    """
    centre = ycc[:, 1:-1, 1:-1]
    neighbours = ycc[:, :-2, 1:-1] + ycc[:, 2:, 1:-1] + ycc[:, 1:-1, :-2] + ycc[:, 1:-1, 2:]
    resid = (centre - neighbours / 4.0).reshape(3, -1).astype(np.float64)
    resid -= resid.mean(axis=1, keepdims=True)
    var = (resid**2).mean(axis=1)
    kurt = (resid**4).mean(axis=1) / np.maximum(var**2, _EPS) - 3.0
    kurt = np.where(var > _EPS, kurt, 0.0)
    return np.concatenate([0.5 * np.log(var + _EPS), np.log(np.abs(resid).mean(axis=1) + _EPS), kurt])


def _blockiness(ycc: np.ndarray) -> np.ndarray:
    """Log ratio of pixel steps across 8-pixel block borders to steps inside blocks."""
    feats = []
    for axis in (1, 2):
        diff = np.abs(np.diff(ycc, axis=axis))
        n = diff.shape[axis]
        border = np.arange(n) % 8 == 7
        at_border = np.take(diff, np.flatnonzero(border), axis=axis).mean(axis=(1, 2))
        inside = np.take(diff, np.flatnonzero(~border), axis=axis).mean(axis=(1, 2))
        feats.append(np.log((at_border + _EPS) / (inside + _EPS)))
    return np.concatenate(feats)


def pixel_features(image: Image.Image) -> np.ndarray:
    """The ``pixels`` feature vector of one image (see :class:`PixelsEncoder`)."""
    ycc = _ycbcr(image)
    parts = _coef_features(_block_dct(ycc), steps=True)
    parts += _coef_features(_block_dct(_half_res_chroma(ycc)), steps=False)
    parts += [_noise_features(ycc), _blockiness(ycc)]
    feats = np.concatenate(parts).astype(np.float32)
    return np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)


class PixelsEncoder(Encoder):
    """Parameter-free baseline: JPEG-domain statistics of the native-resolution pixels.

    The image is converted to YCbCr with the JFIF formulas (as a JPEG encoder
    does) and cut into 8x8 blocks aligned with the top-left corner, i.e. with
    the grid a JPEG encoder would have used. Per channel and per DCT frequency
    it measures:

    * the fraction of coefficients that round to zero (stronger quantisation
      zeroes more of them);
    * a step score, roughly ``log`` of the step whose multiples the non-zero
      coefficients sit on (the quantisation table, hence the quality);
    * the mean log magnitude, pooled over the 15 anti-diagonals;
    * the high/low-frequency AC energy ratio (4:2:0 chroma is upsampled, hence
      smooth at full resolution).

    The zero fractions, magnitudes and energy ratios are repeated for Cb and
    Cr averaged 2x2 on the 16-pixel grid, where 4:2:0 chroma was actually
    sampled. Finally, per channel, statistics of a Laplacian noise residual
    (std, mean absolute value, kurtosis) and a blockiness ratio per direction.

    Why native resolution: resizing moves the block grid and interpolates the
    quantised coefficients away. A 64-pixel thumbnail scores exactly chance on
    the six JPEG classes while these features at native size separate them, so
    a learned encoder that resizes to 224 px has already lost most of the
    signal before its first layer.

    Images smaller than 16x16 are padded by edge replication; the vector has
    the same length and is finite for every size.
    """

    spec = "pixels"
    weights_sha256 = None
    weights_source = "parameter-free"
    default_batch_size = 64
    FEATURE_VERSION = 1

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """The float32 feature vector of one image (all the work happens here)."""
        return pixel_features(image)

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """Identity: the features are the embedding."""
        return np.asarray(batch, dtype=np.float32)

    def describe_preprocessing(self) -> dict[str, Any]:
        return {
            "name": "pixels",
            "feature_version": self.FEATURE_VERSION,
            "color": "JFIF YCbCr, float",
            "resize": None,
            "block": 8,
            "grid_origin": "top-left",
            "steps": list(_STEPS),
            "half_res_chroma": "2x2 mean",
            "noise_residual": "4-neighbour laplacian",
            "min_side": _MIN_SIDE,
        }


def build_pixels(spec: Any, options: dict[str, Any] | None = None) -> PixelsEncoder:
    """Registry factory for the ``pixels`` spec (it takes no options)."""
    return PixelsEncoder()
