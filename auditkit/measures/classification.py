"""The shared step of probe-based audits: labelled embeddings -> measurements.

A probe audit labels each (image, variant) row with what the probe should
recover (the variant, a camera, a style) and asks how far above chance a
grouped linear probe gets. This module turns that into two
:class:`Measurement` objects (``leakage`` and ``accuracy``) carrying the
interval, chance, sample counts, power and confusion matrix, so every audit
family reports the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from auditkit.data.base import ProbeSet
from auditkit.extract import Embedder
from auditkit.power import PlantedCheck, RepeatedCheck, planted_check
from auditkit.probes import (
    Matrix,
    ProbeScore,
    as_matrix,
    cross_val_predictions,
    fold_of,
    outer_folds,
    score_predictions,
)
from auditkit.stats import normalise, replicate_details
from auditkit.thumbnails import variant_thumbnails
from auditkit.transforms.base import Variant
from auditkit.verdicts import Measurement


def measure_probe(
    X: Matrix,
    y: Sequence[str] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    seed: int = 0,
    class_names: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, Measurement]:
    """Probe ``y`` from ``X`` with grouped splits; measurements by metric name.

    A second probe, on a copy of ``X`` with a planted leakage
    (:func:`auditkit.power.planted_check`, at the smallest C the real probe chose),
    measures how small a leakage this sample can vouch for: the
    measurements' ``detectable``.

    Examples
    --------
    >>> ms = measure_probe(table.X, table.variant_ids, table.groups)  # doctest: +SKIP
    >>> ms["leakage"].value, ms["leakage"].ci                        # doctest: +SKIP
    """
    X, y, groups = as_matrix(X), np.asarray(y, dtype=object), np.asarray(groups)
    pred, chosen = cross_val_predictions(X, y, groups, seed=seed)
    folds = fold_of(outer_folds(y, groups, seed=seed), len(y))
    score = score_predictions(y, pred, groups, seed=seed, folds=folds)
    # The strongest regularisation the real probe chose: weak effects at large D
    # read best there, and one fit per fold keeps the check cheap.
    check = planted_check(X, y, groups, pred, seed=seed, C=min(chosen))
    details = probe_details(score, class_names)
    details.update(extra or {})
    return score_measurements(score, details, planted=check)


def score_measurements(score: ProbeScore, details: dict, n: int | None = None,
                       detectable_accuracy: float | None = None,
                       planted: PlantedCheck | RepeatedCheck | None = None,
                       ) -> dict[str, Measurement]:
    """``leakage`` and ``accuracy`` measurements of one probe score, sharing ``details``.

    ``n`` and ``detectable_accuracy`` override the score's own where an audit
    pools several scores (the camera audit's balanced repeats). ``planted``
    raises ``detectable`` to the smallest leakage its check vouches for, and
    goes to the details as ``planted_check``. The score's bootstrap
    replicates go to the details as ``replicates`` (rounded, with the id of
    their resampling), so that a baseline comparison can pair them
    (:mod:`auditkit.compare`).
    """
    det_acc = score.detectable_accuracy if detectable_accuracy is None else detectable_accuracy
    det_leak = det_acc / (1.0 - score.chance)
    if planted is not None:
        det_leak = max(det_leak, planted.detectable)
        det_acc = det_leak * (1.0 - score.chance)
        details["planted_check"] = planted.json()
        # The card's "detectable effect" column reads this key: the one judged.
        details["detectable_leakage"] = det_leak
    if score.accuracy_replicates is not None and score.draw is not None:
        details["replicates"] = replicate_details(score.draw, {
            "leakage": normalise(score.accuracy_replicates, score.chance),
            "accuracy": score.accuracy_replicates,
        })
    points = {
        "leakage": (score.leakage, score.leakage_ci, det_leak),
        "accuracy": (score.accuracy, score.accuracy_ci, det_acc),
    }
    return {
        metric: Measurement(
            metric=metric, value=value, ci=ci, chance=score.chance,
            n=score.n if n is None else n, detectable=detectable,
            degenerate=score.degenerate, details=details,
        )
        for metric, (value, ci, detectable) in points.items()
    }


def probe_details(score: ProbeScore, class_names: Mapping[str, str] | None = None) -> dict:
    names = class_names or {}
    return {
        "accuracy": score.accuracy,
        "accuracy_ci": list(score.accuracy_ci),
        "leakage": score.leakage,
        "leakage_ci": list(score.leakage_ci),
        "detectable_leakage": score.detectable_leakage,
        "degenerate": score.degenerate,
        "n_groups": score.n_groups,
        "n_classes": len(score.classes),
        "class_ids": score.classes,
        "classes": [names.get(c, c) for c in score.classes],
        "confusion": score.confusion.tolist(),
        "per_class": {names.get(c, c): v for c, v in score.per_class.items()},
        "probe": "logistic regression (balanced, C by inner grouped CV), "
                 "5-fold StratifiedGroupKFold",
    }


def measure_variants(
    extractor: Embedder, probe_set: ProbeSet, variants: list[Variant], seed: int = 0
) -> dict[str, Measurement]:
    """Embed every source image under ``variants`` and probe which one was applied.

    Examples
    --------
    >>> ms = measure_variants(extractor, probe_set, jpeg_grid())  # doctest: +SKIP
    """
    probe_set.require(purpose="a grouped 5-fold probe")
    table = extractor.embed(probe_set.images, variants)
    extra = {
        "variants": [{"id": v.id, "label": v.label, "params": dict(v.params)} for v in variants],
        "thumbnails": sample_thumbnails(probe_set, variants, seed),
        "n_images": len(set(table.image_ids.tolist())),
        "skipped_pairs": len(probe_set.images) * len(variants) - len(table),
    }
    return measure_probe(
        table.features(), table.variant_ids, table.groups, seed=seed,
        class_names={v.id: v.label for v in variants}, extra=extra,
    )


def sample_thumbnails(probe_set: ProbeSet, variants: Sequence[Variant], seed: int = 0
                      ) -> dict[str, str]:
    """Thumbnails of ``variants`` on the first probe image that decodes (a photo if any)."""
    images = sorted(probe_set.images, key=lambda im: im.label != "photo")
    for image in images[:5]:
        try:
            picture = image.load()
        except Exception:  # unreadable images are the extractor's to report
            continue
        return variant_thumbnails(picture, variants, seed)
    return {}
