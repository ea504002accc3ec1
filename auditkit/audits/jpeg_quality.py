"""JPEG-quality audit (Ramos et al., ICCV 2025).

Six classes, quality {75, 85, 95} x chroma subsampling {4:2:0, 4:4:4}, each
applied at full resolution before the encoder's own preprocessing. A grouped
linear probe predicts the class from the embedding; chance is 1/6.
"""

from __future__ import annotations

from auditkit.audits.classification import measure_variants
from auditkit.data.base import ProbeSet
from auditkit.extract import Extractor
from auditkit.transforms.quality import jpeg_grid
from auditkit.verdicts import Measurement

AUDIT = "jpeg_quality"


def measure(extractor: Extractor, probe_set: ProbeSet, seed: int = 0) -> dict[str, Measurement]:
    """Embed every source image under the six JPEG settings and probe the setting.

    Examples
    --------
    >>> ms = measure(Extractor(build_encoder("pixels")), builtin_probe_set())  # doctest: +SKIP
    >>> ms["leakage"].value                                                   # doctest: +SKIP
    """
    return measure_variants(extractor, probe_set, jpeg_grid(), seed=seed)
