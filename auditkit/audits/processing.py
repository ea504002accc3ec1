"""Processing-trace audits (Ramos et al., ICCV 2025): sharpening, resizing, interpolation.

Same protocol as the JPEG audit: every source image under every class of one
processing family, a grouped linear probe predicting the class, chance 1/K.
"""

from __future__ import annotations

from collections.abc import Callable

from auditkit.audits.classification import measure_variants
from auditkit.data.base import ProbeSet
from auditkit.extract import Extractor
from auditkit.transforms.base import Variant
from auditkit.transforms.mask import masked
from auditkit.transforms.quality import jpeg_grid
from auditkit.transforms.processing import (
    interpolation_variants,
    resizing_variants,
    sharpening_variants,
)
from auditkit.verdicts import Measurement

#: Audit name -> the variants whose identity the probe must recover.
FAMILIES: dict[str, Callable[[], list[Variant]]] = {
    "processing_sharpening": sharpening_variants,
    "processing_resizing": resizing_variants,
    "processing_interpolation": interpolation_variants,
    # The semantic control: how much JPEG leakage survives without the subject.
    "processing_masked_jpeg": lambda: masked(jpeg_grid()),
}


def measure(audit: str, extractor: Extractor, probe_set: ProbeSet, seed: int = 0
            ) -> dict[str, Measurement]:
    """Measure one processing audit by name (a key of :data:`FAMILIES`).

    Examples
    --------
    >>> ms = measure("processing_resizing", extractor, probe_set)  # doctest: +SKIP
    """
    return measure_variants(extractor, probe_set, FAMILIES[audit](), seed=seed)
