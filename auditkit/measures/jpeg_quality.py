"""JPEG-quality audit (Ramos et al., ICCV 2025).

Six classes, quality {75, 85, 95} x chroma subsampling {4:2:0, 4:4:4}, each
applied at full resolution before the encoder's own preprocessing. A grouped
linear probe predicts the class from the embedding; chance is 1/6.
"""

from __future__ import annotations

from auditkit.context import AuditContext
from auditkit.data.base import ProbeSet
from auditkit.extract import Embedder
from auditkit.measures.classification import measure_variants
from auditkit.registry import register_audit
from auditkit.transforms.quality import jpeg_grid
from auditkit.verdicts import Measurement

AUDIT = "jpeg_quality"


def measure(extractor: Embedder, probe_set: ProbeSet, seed: int = 0) -> dict[str, Measurement]:
    """Embed every source image under the six JPEG settings and probe the setting.

    Examples
    --------
    >>> ms = measure(Extractor(build_encoder("pixels")), builtin_probe_set())  # doctest: +SKIP
    >>> ms["leakage"].value                                                   # doctest: +SKIP
    """
    return measure_variants(extractor, probe_set, jpeg_grid(), seed=seed)


@register_audit(
    AUDIT,
    thresholds={"max_leakage": [0.1, 0.5]},
    note="Normalised leakage (acc - chance) / (1 - chance); each value is one test case.",
    calibrate=True,
)
def measure_jpeg_quality(ctx: AuditContext) -> dict[str, Measurement]:
    """The JPEG-quality audit of the context's embedder and probe set."""
    return measure(ctx.embedder, ctx.probe_set, seed=ctx.seed)
