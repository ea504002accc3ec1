"""Processing-trace audits (Ramos et al., ICCV 2025): sharpening, resizing, interpolation.

Same protocol as the JPEG audit: every source image under every class of one
processing family, a grouped linear probe predicting the class, chance 1/K.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from auditkit.context import AuditContext
from auditkit.data.base import ProbeSet
from auditkit.extract import Embedder
from auditkit.measures.classification import measure_variants
from auditkit.registry import register_audit
from auditkit.transforms.base import Variant
from auditkit.transforms.mask import encoder_geometry, mask_details, masked
from auditkit.transforms.processing import (
    interpolation_variants,
    resizing_variants,
    sharpening_variants,
)
from auditkit.transforms.quality import jpeg_grid
from auditkit.verdicts import Measurement

#: Audit name -> the variants whose identity the probe must recover.
FAMILIES: dict[str, Callable[[], list[Variant]]] = {
    "processing_sharpening": sharpening_variants,
    "processing_resizing": resizing_variants,
    "processing_interpolation": interpolation_variants,
    # The semantic control: how much JPEG leakage survives without the subject.
    "processing_masked_jpeg": jpeg_grid,
}
#: The audits of :data:`FAMILIES` whose variants are masked in the frame of
#: the encoder's input (:mod:`auditkit.transforms.mask`).
MASKED = frozenset({"processing_masked_jpeg"})


def measure(audit: str, extractor: Embedder, probe_set: ProbeSet, seed: int = 0
            ) -> dict[str, Measurement]:
    """Measure one processing audit by name (a key of :data:`FAMILIES`).

    Examples
    --------
    >>> ms = measure("processing_resizing", extractor, probe_set)  # doctest: +SKIP
    """
    variants = FAMILIES[audit]()
    if audit not in MASKED:
        return measure_variants(extractor, probe_set, variants, seed=seed)
    variants = masked(variants, geometry=encoder_geometry(extractor))
    out = measure_variants(extractor, probe_set, variants, seed=seed)
    report = mask_details(extractor, variants[0], probe_set.images)
    for measurement in out.values():
        measurement.details["mask"] = report
    return out


#: What ``auditkit init`` writes above each audit's thresholds.
NOTES = {
    "processing_masked_jpeg": "The JPEG audit with the centre 95 % masked: what survives "
                              "without the subject.",
}


def _measure_family(audit: str, ctx: AuditContext) -> dict[str, Measurement]:
    return measure(audit, ctx.embedder, ctx.probe_set, seed=ctx.seed)


for _audit in FAMILIES:
    register_audit(
        _audit,
        thresholds={"max_leakage": [0.1, 0.5]},
        note=NOTES.get(_audit, ""),
        calibrate=_audit == "processing_resizing",
    )(partial(_measure_family, _audit))
