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

from auditkit.encoders.base import Encoder
from auditkit.encoders.geometry import InputGeometry
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec
from auditkit.errors import SpecError

#: JFIF RGB -> YCbCr matrix (the chroma offset of 128 is added separately).
_JFIF = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float32,
)
#: Candidate quantisation steps; they cover the IJG tables at qualities 75-95
#: for the low frequencies, where coefficients are rarely zero. 7 and 14 are
#: left out because they would raise the histogram period from 720 to 5040.
_STEPS = (2, 3, 4, 5, 6, 8, 9, 10, 12, 16)
#: Period of the magnitude histogram: divisibility by any step depends only
#: on the magnitude modulo their lcm.
_PERIOD = 720


def _on_grid_table() -> tuple[np.ndarray, np.ndarray]:
    """Which residues mod 720 count as "on the grid" of each step, and their share.

    Decoding to uint8 RGB knocks about a fifth of the coefficients one unit
    off the grid, so from step 5 up a residue of +-1 still counts; below 5
    that tolerance would accept nearly everything.
    """
    residue = np.arange(_PERIOD)[:, None] % np.array(_STEPS)
    steps = np.array(_STEPS)
    tolerant = steps >= 5
    on_grid = (residue == 0) | (tolerant & ((residue == 1) | (residue == steps - 1)))
    chance = np.where(tolerant, 3.0, 1.0) / steps
    return on_grid.astype(np.float64), chance


_ON_GRID, _CHANCE = _on_grid_table()
_MIN_SIDE = 16
_MAX_SIDE = 1024
_EPS = 1e-6
_U, _V = np.divmod(np.arange(64), 8)
#: Anti-diagonal (u + v) of each frequency: 15 bands, a coarse frequency axis.
_BAND = _U + _V
_HIGH = (_U >= 4) | (_V >= 4)


def _ycbcr(image: Image.Image) -> np.ndarray:
    """Float ``(3, H, W)`` YCbCr without the uint8 rounding of ``convert("YCbCr")``.

    Skipping the rounding keeps DCT coefficients of a decoded JPEG within a few
    tenths of the dequantised grid, which is what the step statistics rely on.
    """
    rgb = np.asarray(_centre_window(image).convert("RGB"))
    h, w = rgb.shape[:2]
    if h < _MIN_SIDE or w < _MIN_SIDE:
        pad = ((0, max(0, _MIN_SIDE - h)), (0, max(0, _MIN_SIDE - w)), (0, 0))
        rgb = np.pad(rgb, pad, mode="edge")
    ycc = np.tensordot(_JFIF, rgb.transpose(2, 0, 1).astype(np.float32), axes=1)
    ycc[1:] += 128.0
    return ycc


def _centre_window(image: Image.Image) -> Image.Image:
    """At most ``_MAX_SIDE`` pixels a side, cut at offsets that keep the 16-grid.

    Bounds the cost on camera-sized images; a million pixels is far more than
    the statistics need, and nothing is resampled.
    """
    w, h = image.size
    if max(w, h) <= _MAX_SIDE:
        return image
    top = max(0, (h - _MAX_SIDE) // 2) // 16 * 16
    left = max(0, (w - _MAX_SIDE) // 2) // 16 * 16
    return image.crop((left, top, min(w, left + _MAX_SIDE), min(h, top + _MAX_SIDE)))


def _block_dct(planes: np.ndarray) -> np.ndarray:
    """Orthonormal 8x8 block DCT of ``(C, H, W)`` planes -> ``(C, blocks, 64)``.

    Blocks start at the top-left corner, as the JPEG grid does; the ragged
    right and bottom edges are dropped rather than padded so no fake block
    enters the statistics.
    """
    # Imported here: registering the source at package import must stay cheap.
    from scipy.fft import dctn

    c, h, w = planes.shape
    h8, w8 = h // 8 * 8, w // 8 * 8
    blocks = planes[:, :h8, :w8].reshape(c, h8 // 8, 8, w8 // 8, 8).transpose(0, 1, 3, 2, 4)
    coefs = dctn(blocks - 128.0, axes=(3, 4), norm="ortho")
    return coefs.reshape(c, -1, 64)


def _band_mean(values: np.ndarray) -> np.ndarray:
    """Average ``(C, 64)`` per-frequency values over the 15 anti-diagonals."""
    sums = np.stack([np.bincount(_BAND, weights=row, minlength=15) for row in values])
    return sums / np.bincount(_BAND, minlength=15)


def _step_scores(rounded: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """How strongly coefficients sit on multiples of a step, ``(C, 64)``.

    Magnitudes 0 and 1 are left out: they lie next to the zero multiple of
    every step. For each candidate step ``s`` the fraction of the rest on its
    grid is rescaled so chance maps to 0 and a perfect grid to 1; the score
    weighted by ``log s`` is maximised over ``s``. That is close to
    ``log(step)`` for a quantised frequency and 0 for an unquantised one. It
    is shrunk towards 0 when few coefficients count, where a grid is luck.
    """
    c = rounded.shape[0]
    # One histogram of magnitude mod 720 per frequency, then a matrix product,
    # is ten times faster than a modulo pass per step (intp keys, or bincount
    # makes its own copy).
    offset = (np.arange(c * 64, dtype=np.intp) * _PERIOD).reshape(c, 1, 64)
    keys = (offset + rounded % np.uint16(_PERIOD)).ravel()
    hist = np.bincount(keys, minlength=c * 64 * _PERIOD).reshape(c * 64, _PERIOD)
    hist = hist.astype(np.float64)
    hist[:, 0] -= zeros.ravel()
    hist[:, 1] -= (rounded == 1).sum(axis=1).ravel()
    count = hist.sum(axis=1, keepdims=True)
    frac = (hist @ _ON_GRID) / np.maximum(count, 1.0)
    score = np.clip((frac - _CHANCE) / (1.0 - _CHANCE), 0.0, 1.0)
    best = (score * np.log(_STEPS)).max(axis=1, keepdims=True)
    return (best * count / (count + 10.0)).reshape(c, 64)


def _coef_features(coefs: np.ndarray, steps: bool) -> list[np.ndarray]:
    """Per-frequency zero fraction, step score and band-pooled log magnitude."""
    magnitude = np.abs(coefs)
    rounded = np.rint(magnitude).astype(np.uint16)
    zeros = (rounded == 0).sum(axis=1)
    energy = np.einsum("cnk,cnk->ck", magnitude, magnitude)
    # High/low AC energy: upsampled 4:2:0 chroma has almost none above u,v=4.
    high = energy[:, _HIGH].sum(axis=1)
    low = energy[:, ~_HIGH].sum(axis=1) - energy[:, 0]
    ratio = np.log((high + _EPS) / (low + _EPS))
    log_mag = np.log(magnitude.mean(axis=1) + _EPS)
    out = [(zeros / coefs.shape[1]).ravel(), _band_mean(log_mag).ravel(), ratio]
    if steps:
        out.append(_step_scores(rounded, zeros).ravel())
    return out


def _half_res_chroma(ycc: np.ndarray) -> np.ndarray:
    """Cb, Cr averaged over 2x2 on the 16-pixel MCU grid: the 4:2:0 sampling grid."""
    _, h, w = ycc.shape
    h16, w16 = h // 16 * 16, w // 16 * 16
    c = ycc[1:, :h16, :w16]
    return 0.25 * (c[:, 0::2, 0::2] + c[:, 1::2, 0::2] + c[:, 0::2, 1::2] + c[:, 1::2, 1::2])


def _noise_features(ycc: np.ndarray) -> np.ndarray:
    """Log std, log mean |r| and excess kurtosis of a Laplacian residual per channel.

    A 4-neighbour residual instead of a median filter: ten times cheaper and
    it isolates the same sensor and rounding noise.
    """
    # In place: each temporary of a large image costs fresh pages.
    resid = ycc[:, :-2, 1:-1] + ycc[:, 2:, 1:-1]
    resid += ycc[:, 1:-1, :-2]
    resid += ycc[:, 1:-1, 2:]
    resid *= -0.25
    resid += ycc[:, 1:-1, 1:-1]
    resid = resid.reshape(3, -1)
    square = resid * resid
    var = square.mean(axis=1, dtype=np.float64)
    fourth = np.einsum("ij,ij->i", square, square, dtype=np.float64) / resid.shape[1]
    # Flat images have no residual; call their kurtosis 0 rather than 0/0.
    kurt = np.where(var > _EPS, fourth / np.maximum(var**2, _EPS) - 3.0, 0.0)
    mean_abs = np.abs(resid, out=resid).mean(axis=1, dtype=np.float64)
    return np.concatenate([0.5 * np.log(var + _EPS), np.log(mean_abs + _EPS), kurt])


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

    The image is converted to YCbCr with the JFIF formulas, as a JPEG encoder
    does, and cut into 8x8 blocks aligned with the top-left corner, i.e. with
    the grid a JPEG encoder would have used. Per channel and DCT frequency:

    * the fraction of coefficients that round to zero (stronger quantisation
      zeroes more of them);
    * a step score, roughly ``log`` of the step whose multiples the non-zero
      coefficients sit on (the quantisation table, hence the quality);
    * the log mean magnitude, pooled over the 15 anti-diagonals;
    * per channel, the high/low AC energy ratio (4:2:0 chroma is upsampled,
      hence smooth at full resolution).

    Zero fractions, magnitudes and energy ratios are repeated for Cb and Cr
    averaged 2x2 on the 16-pixel grid, where 4:2:0 chroma was sampled. Last,
    per channel, std, mean absolute value and kurtosis of a Laplacian noise
    residual, and a blockiness ratio per direction.

    Notes
    -----
    Native resolution matters because resizing moves the block grid and
    interpolates the quantised coefficients away: a 64-pixel thumbnail scores
    exactly chance on the six JPEG classes, while these features separate
    them. An encoder that resizes to 224 px has lost most of the signal
    before its first layer.

    Images under 16 px a side are padded by edge replication; images over
    1024 px a side are analysed in a central window cut on the 16-pixel grid.
    The vector has the same length and is finite for every size.
    """

    post_on_image = True
    #: Native pixels, cut to the central window on large images.
    input_geometry = InputGeometry(crop=(_MAX_SIDE, _MAX_SIDE))

    spec = "pixels"
    weights_sha256 = None
    weights_source = "parameter-free"
    default_batch_size = 64
    FEATURE_VERSION = 1

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Compute the features of one image (all the work happens here).

        Parameters
        ----------
        image : PIL.Image.Image
            Any mode; converted to RGB.

        Returns
        -------
        numpy.ndarray
            1-D float32 vector of fixed length.
        """
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
            "step_tolerance": "+-1 from step 5, magnitudes 0 and 1 excluded",
            "half_res_chroma": "2x2 mean",
            "noise_residual": "4-neighbour laplacian",
            "min_side": _MIN_SIDE,
            "max_side": _MAX_SIDE,
        }


def _nothing_after_name(rest: str) -> tuple[str, str] | None:
    return None if rest else ("", "")


@register_source("pixels", form="pixels", parse=_nothing_after_name, weights=False)
def build_pixels(spec: Any, options: Any = None) -> PixelsEncoder:
    """Registry factory for the ``pixels`` spec (it takes no weights and no options)."""
    if isinstance(spec, EncoderSpec) and (spec.random or spec.weights_path):
        raise SpecError(f"spec {spec.raw!r}: the pixels baseline has no weights")
    return PixelsEncoder()
