"""Camera-model audit (Ramos et al., ICCV 2025): which camera took the photo?

Classes are the cameras of the probe set's photos, from EXIF ``Make`` and
``Model`` or a manifest column (see :mod:`auditkit.data.cameras`), at one of
three levels: ``"Make Model"``, ``"Make"``, or smartphone or not. The default,
``"auto"``, takes the model level when at least two models have
``min_per_class`` photos, else the make level (``--audit-camera-level``,
``--audit-camera-min-per-class`` or ``[tool.auditkit.camera]`` ``level`` and
``min_per_class``). A probe set without camera labels, or with fewer than two
classes large enough, is not applicable (:class:`~auditkit.errors.NotApplicable`).
Each photo is embedded once, as it is (or with the centre masked, the
semantic control), and a grouped linear probe predicts its camera.

With the built-in probe set there are no photographs, so every built-in image
is taken by each simulated camera of :mod:`auditkit.transforms.camera` and the
probe predicts the camera; the images of one source share a group, so
content cannot help. Results then say "simulated cameras" in their details.

Classes are balanced by subsampling (the paper's protocol; chance is then
1/K): classes with fewer than ``min_per_class`` photos are dropped and
recorded, and every other class is cut to the size of the smallest, drawn
afresh in each of ``n_repeats`` repeats. When the classes are already equal
nothing is cut and one repeat is run, since more would be identical.

Combining repeats: the out-of-fold predictions of all repeats are scored
together. Since every repeat has the same number of photos per class, the
pooled balanced accuracy is exactly the mean of the repeats' balanced
accuracies. Its interval is a bootstrap over source groups that resamples
each group with its rows from every repeat, so the dependence between
repeats (they share most photos) is kept rather than treated as fresh data.
The smallest detectable effect is the mean over repeats of each repeat's
own, i.e. that of one balanced sample: conservative, since the pooled
estimate uses more photos than any one repeat. Each repeat's score and the
spread across repeats are in the details.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditkit import seeds
from auditkit.context import AuditContext
from auditkit.data.base import ProbeSet, SourceImage
from auditkit.data.builtin import BuiltinRecipe
from auditkit.data.cameras import LEVEL_CHOICES, choose_level
from auditkit.encoders.base import stable_hash
from auditkit.errors import ConfigError, NotApplicable, ProbeSetError
from auditkit.extract import Embedder
from auditkit.measures.classification import probe_details, score_measurements
from auditkit.power import PlantedCheck, RepeatedCheck, planted_check
from auditkit.probes import Matrix, ProbeScore, cross_val_predictions, score_predictions
from auditkit.probes import rows as select_rows
from auditkit.registry import register_audit
from auditkit.transforms.base import ORIGINAL, Variant
from auditkit.transforms.camera import (
    DEFAULT_SIMULATED,
    SHARED_JPEG,
    camera_set,
    camera_variants,
    describe_camera,
)
from auditkit.transforms.mask import encoder_geometry, mask_details
from auditkit.transforms.mask import masked as masked_variants
from auditkit.verdicts import Measurement

AUDIT = "camera_model"
MASKED_AUDIT = "camera_model_masked"
#: A class with fewer photos gives too few test photos per fold to score.
DEFAULT_MIN_PER_CLASS = 10
DEFAULT_REPEATS = 5
#: The level the stock audits measure at unless configured (see :func:`choose_level`).
DEFAULT_LEVEL = "auto"
_EXAMPLES = 5
#: Classes a message names before it says "and N more".
_NAMED_CLASSES = 5


@dataclass
class _Rows:
    """Embeddings labelled with their camera class, and what the details should say."""

    #: On the measurement's device where it has one (:meth:`EmbeddingTable.features`).
    X: Matrix
    y: np.ndarray
    groups: np.ndarray
    image_ids: np.ndarray
    names: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)


def measure(
    extractor: Embedder,
    probe_set: ProbeSet,
    seed: int = 0,
    masked: bool = False,
    level: str = DEFAULT_LEVEL,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    n_repeats: int = DEFAULT_REPEATS,
    simulated: str = DEFAULT_SIMULATED,
) -> dict[str, Measurement]:
    """Probe the camera of each photo; ``{"leakage", "accuracy"}`` measurements.

    Parameters
    ----------
    extractor: Embedder
    probe_set : ProbeSet
        Photos with camera labels (EXIF or manifest), or the built-in set,
        which is taken by the simulated cameras.
    seed : int
        Seeds subsampling, splits and bootstrap.
    masked : bool
        The semantic control: blank the centre 95 % after preprocessing.
    level : str
        ``"auto"`` (model when two models have ``min_per_class`` photos, else
        make), ``"model"``, ``"make"`` or ``"smartphone"`` (photos only).
    min_per_class : int
        Classes with fewer photos are dropped (recorded in the details).
    n_repeats : int
        Subsampling repeats when class sizes differ.
    simulated : str
        The built-in set of simulated cameras (built-in probe set only):
        ``"shared_jpeg"`` or ``"distinct_jpeg"`` (:mod:`auditkit.transforms.camera`).

    Returns
    -------
    dict
        ``"leakage"`` and ``"accuracy"`` :class:`Measurement`; ``n`` is the
        size of one balanced sample (classes x photos per class).

    Raises
    ------
    NotApplicable
        No photo has a camera label, or fewer than two classes are left once
        small and single-group classes are dropped.
    ProbeSetError
        The balanced sample cannot be split by group.
    ConfigError
        An unknown ``level``, or ``min_per_class`` / ``n_repeats`` out of range.

    Examples
    --------
    >>> ms = measure(Extractor(build_encoder("pixels")), builtin_probe_set())  # doctest: +SKIP
    >>> ms["leakage"].details["note"]                                         # doctest: +SKIP
    'simulated cameras: ...'
    """
    if level not in LEVEL_CHOICES:
        raise ConfigError(f"level={level!r} is unknown, expected one of {LEVEL_CHOICES!r}")
    for name, value, least in (("min_per_class", min_per_class, 2), ("n_repeats", n_repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{name}={value!r}: expected an integer >= {least}")
    camera_set(simulated)  # an unknown set is an error before anything is embedded
    rows = camera_rows(extractor, probe_set, masked, level, min_per_class, simulated)
    return _balanced_measurements(rows, seed, min_per_class, n_repeats)


def camera_rows(
    extractor: Embedder,
    probe_set: ProbeSet,
    masked: bool = False,
    level: str = DEFAULT_LEVEL,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    simulated: str = DEFAULT_SIMULATED,
) -> _Rows:
    """The embedded photos with their camera classes (``X``, ``y``, ``groups``), as
    :func:`measure` probes them before balancing: the built-in set by simulated
    cameras, a folder by EXIF or manifest labels at ``level``."""
    if _is_builtin(probe_set):
        level = "model" if level == "auto" else level
        rows = _simulated(extractor, probe_set.images, masked, level, simulated)
        rows.details["level"] = level
    else:
        rows = _photographed(extractor, probe_set, masked, level, min_per_class)
    rows.details.update(masked=masked, min_per_class=min_per_class)
    return rows


def _is_builtin(probe_set: ProbeSet) -> bool:
    # By the loader, not the name: a user folder may be called "builtin".
    return bool(probe_set.images) and all(
        isinstance(im.loader, BuiltinRecipe) for im in probe_set.images
    )


def _simulated(
    extractor: Embedder, images: Sequence[SourceImage], masked: bool, level: str,
    simulated: str = DEFAULT_SIMULATED,
) -> _Rows:
    if level != "model":
        raise ConfigError(
            f"level={level!r} needs photos with EXIF Make/Model; the built-in set is taken by "
            "simulated cameras, one class each: use level='model' or pass --audit-data"
        )
    cameras = camera_variants(simulated)
    variants = masked_variants(cameras, geometry=encoder_geometry(extractor)) if masked else cameras
    table = extractor.embed(images, variants)
    # Short class names ("simulated camera A"); the pipelines are spelled out once, below.
    names = {v.id: v.label.split(" (", 1)[0] for v in variants}
    described = "; ".join(v.label for v in cameras)
    rows = _Rows(
        table.features(), table.variant_ids.astype(str), table.groups.astype(str),
        table.image_ids.astype(str), names,
        details={
            "cameras": "simulated",
            "note": (
                f"simulated cameras: each of {len(images)} built-in images taken by "
                f"{len(cameras)} simulated camera pipelines ({described}); classes differ "
                "only in acquisition. Pass --audit-data with photos carrying EXIF "
                "Make/Model to audit real cameras."
            ),
            "simulated_cameras": [
                {"id": v.id, "label": v.label, "params": dict(v.params)} for v in cameras
            ],
            "simulated_set": simulated,
            "simulated_jpeg": (
                f"shared: every camera saves with {_shared_jpeg()}, so only sensor and "
                "pipeline traces tell them apart" if simulated == "shared_jpeg" else
                "distinct: each camera has its own JPEG quality or tables and chroma "
                "subsampling, so compression alone can tell them apart"),
            "variants": [v.id for v in variants],
            "n_images": len(images),
            "failed_pairs": len(images) * len(variants) - len(table),
            "unlabelled": {"count": 0, "examples": []},
        },
    )
    if masked:
        rows.details["mask"] = mask_details(extractor, variants[0], images)
    return rows


def _photographed(extractor: Embedder, probe_set: ProbeSet, masked: bool, level: str,
                  min_per_class: int) -> _Rows:
    found, why = choose_level(probe_set.images, level, min_per_class)
    level = found.level
    missing = [{"path": path, "reason": reason} for path, reason in found.missing]
    if not found.labels:
        raise _no_labels(probe_set, missing, level)
    images = [im for im in probe_set.images if im.id in found.labels]
    # Refused before any embedding: too few photos per class is the data's, not the model's.
    labelled = _Rows(np.zeros((len(images), 0)),
                     np.array([found.labels[im.id] for im in images], dtype=object).astype(str),
                     np.array([im.group for im in images], dtype=object).astype(str),
                     np.array([im.id for im in images], dtype=object).astype(str),
                     dict(found.display))
    kept, _ = _drop_small(labelled, min_per_class)
    if len(kept) < 2:
        raise _too_few_classes(labelled, min_per_class, level)
    variant: Variant = (masked_variants([ORIGINAL], geometry=encoder_geometry(extractor))[0]
                        if masked else ORIGINAL)
    table = extractor.embed(images, [variant])
    embedded = set(table.image_ids.tolist())
    failed = [im.path or im.id for im in images if im.id not in embedded]
    y = np.array([found.labels[i] for i in table.image_ids], dtype=object).astype(str)
    rows = _Rows(
        table.features(), y, table.groups.astype(str), table.image_ids.astype(str),
        dict(found.display),
        details={
            "cameras": "photographed",
            "note": (
                f"{why}, from the photos' {' and '.join(found.sources) or 'EXIF'}, each photo "
                f"embedded {'with the centre masked' if masked else 'as it is'}"
            ),
            "level": level,
            "level_choice": why,
            # Which level was measured qualifies every verdict: it is in the reason.
            "caveats": [why],
            "label_sources": found.sources,
            "variants": [variant.id],
            "n_images": len(images),
            "unlabelled": {"count": len(missing), "examples": missing[:_EXAMPLES]},
            "failed": {"count": len(failed), "examples": failed[:_EXAMPLES]},
        },
    )
    if masked:
        rows.details["mask"] = mask_details(extractor, variant, images)
    if len(images) > 1 and len(set(rows.groups.tolist())) == len(rows.groups):
        rows.details["single_file_groups"] = True
        rows.details.setdefault("caveats", []).append(SINGLE_FILE_GROUPS)
    return rows


#: The caveat of a probe set whose groups are single files.
SINGLE_FILE_GROUPS = (
    "every photo is its own group, so photos of one scene, subject or photographer fall on "
    "both sides of a split: content can explain the camera (give each shoot one group, the "
    "manifest's 'group' column)")


def _shared_jpeg() -> str:
    """The shared JPEG setting in words, as the camera labels say it."""
    first = next(iter(camera_set("shared_jpeg").values()))
    return describe_camera({**first, **SHARED_JPEG}).rsplit(", ", 1)[-1]


def _no_labels(probe_set: ProbeSet, missing: list[dict[str, str]], level: str) -> NotApplicable:
    reasons = Counter(m["reason"].split(" (", 1)[0] for m in missing)
    examples = ", ".join(repr(m["path"]) for m in missing[:3])
    why = ", ".join(f"{r} x{n}" for r, n in reasons.most_common(3))
    return NotApplicable(
        f"no image of probe set {probe_set.name!r} has a camera label at level {level!r}: "
        f"{len(missing)} file(s) lack EXIF Make/Model ({why}), e.g. {examples}. "
        "Supply the cameras in a CSV manifest with a 'camera' column (e.g. "
        "'path,camera' then 'img1.jpg,Canon EOS 5D') or 'make' and 'model' columns, "
        "and pass it with --audit-data=manifest.csv"
    )


def _drop_small(rows: _Rows, min_per_class: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Classes kept, and the dropped ones with count and reason."""
    kept, dropped = [], []
    for cls, count in sorted(Counter(rows.y.tolist()).items()):
        n_groups = len(set(rows.groups[rows.y == cls].tolist()))
        name = rows.names.get(cls, cls)
        if count < min_per_class:
            reason = f"{count} image(s), fewer than min_per_class={min_per_class}"
        elif n_groups < 2:
            reason = "all its images are in one group, so no grouped split can test it"
        else:
            kept.append(cls)
            continue
        dropped.append({"class": name, "count": count, "reason": reason})
    return kept, dropped


def _balanced_measurements(
    rows: _Rows, seed: int, min_per_class: int, n_repeats: int
) -> dict[str, Measurement]:
    before = Counter(rows.y.tolist())
    kept, dropped = _drop_small(rows, min_per_class)
    details = rows.details
    details["class_counts_before"] = {rows.names.get(c, c): n for c, n in sorted(before.items())}
    details["dropped_classes"] = dropped
    if len(kept) < 2:
        raise _too_few_classes(rows, min_per_class, str(details.get("level", "")))
    size = min(before[c] for c in kept)
    repeats = 1 if len({before[c] for c in kept}) == 1 else n_repeats
    ys, preds, groups, scores, used = [], [], [], [], set()
    checks: list[PlantedCheck] = []
    for r in range(repeats):
        idx = _subsample(rows.y, kept, size, seeds.rng(seed, r))
        used.update(rows.image_ids[idx].tolist())
        y, g = rows.y[idx], rows.groups[idx]
        try:
            pred, chosen = cross_val_predictions(select_rows(rows.X, idx), y, g,
                                                 seed=seeds.repeat_seed(seed, r))
        except ValueError as exc:
            raise ProbeSetError(
                f"cannot split the balanced sample by group: {exc}; give the photos of each "
                "camera more distinct groups (the manifest's 'group' column)"
            ) from exc
        scores.append(score_predictions(y, pred, g, classes=kept, seed=seeds.repeat_seed(seed, r)))
        # Every draw: the pooled headline is judged, and a draw whose sample could
        # not see a threshold-sized leakage must not be vouched for by another.
        checks.append(planted_check(select_rows(rows.X, idx), y, g, pred,
                                    seed=seeds.repeat_seed(seed, r),
                                    C=min(chosen)))
        ys.append(y)
        preds.append(pred)
        groups.append(g)
    pooled = score_predictions(
        np.concatenate(ys), np.concatenate(preds), np.concatenate(groups), classes=kept, seed=seed
    )
    details.update(probe_details(pooled, rows.names))
    details.update(_repeat_details(scores, size, kept, rows.names))
    details["n_images_used"] = len(used)
    detectable = float(np.mean([s.detectable_accuracy for s in scores]))
    n = size * len(kept)
    return score_measurements(pooled, details, n=n, detectable_accuracy=detectable,
                              planted=RepeatedCheck(checks) if len(checks) > 1 else checks[0])


def _too_few_classes(rows: _Rows, min_per_class: int, level: str) -> NotApplicable:
    """Fewer than two usable classes: the reason, the largest classes and the remedies."""
    counts = Counter(rows.y.tolist()).most_common()
    named = ", ".join(f"{rows.names.get(c, c)!r}: {n}" for c, n in counts[:_NAMED_CLASSES])
    more = f" and {len(counts) - _NAMED_CLASSES} more" if len(counts) > _NAMED_CLASSES else ""
    coarser = (" or --audit-camera-level=make," if level == "model" else "")
    return NotApplicable(
        f"the camera audit needs at least 2 camera classes with {min_per_class} or more "
        f"images in 2 or more groups; found {len(counts)} class(es) at level {level!r}, largest "
        f"{named or 'none'}{more}. Add photos of more cameras, or pass{coarser} "
        "--audit-camera-min-per-class=N (or [tool.auditkit.camera] level / min_per_class)"
    )


def _subsample(y: np.ndarray, kept: list[str], size: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices: ``size`` rows drawn without replacement from each kept class."""
    picks = [rng.choice(np.flatnonzero(y == cls), size=size, replace=False) for cls in kept]
    return np.sort(np.concatenate(picks))


def _repeat_details(
    scores: list[ProbeScore], size: int, kept: list[str], names: dict[str, str]
) -> dict[str, Any]:
    acc = np.array([s.accuracy for s in scores])
    leak = np.array([s.leakage for s in scores])
    return {
        "class_counts_after": {names.get(c, c): size for c in kept},
        "balanced_per_class": size,
        "n_repeats": len(scores),
        "repeats": [
            {
                "repeat": r,
                "accuracy": s.accuracy,
                "accuracy_ci": list(s.accuracy_ci),
                "leakage": s.leakage,
                "leakage_ci": list(s.leakage_ci),
                "per_class": {names.get(c, c): v for c, v in s.per_class.items()},
            }
            for r, s in enumerate(scores)
        ],
        "repeat_spread": {
            "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std()),
            "accuracy_min": float(acc.min()),
            "accuracy_max": float(acc.max()),
            "leakage_mean": float(leak.mean()),
            "leakage_std": float(leak.std()),
        },
        "combination": (
            "out-of-fold predictions of all repeats scored together: the point is the mean of "
            "the repeats' balanced accuracies; the interval resamples source groups with their "
            "rows from every repeat; confusion summed over repeats"
        ),
    }


@dataclass(frozen=True)
class CameraOptions:
    """``[tool.auditkit.camera]``, with the command line's ``--audit-camera-*`` over it."""

    level: str = DEFAULT_LEVEL
    min_per_class: int = DEFAULT_MIN_PER_CLASS
    simulated: str = DEFAULT_SIMULATED


def camera_table(table: Any, level: str | None = None,
                 min_per_class: int | None = None) -> dict[str, Any]:
    """``[tool.auditkit.camera]`` with the command line's level and minimum over it, checked.

    Examples
    --------
    >>> camera_table({"simulated": "distinct_jpeg", "min_per_class": 4}, min_per_class=5)
    {'simulated': 'distinct_jpeg', 'min_per_class': 5}
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"[tool.auditkit.camera] = {table!r}: expected a table")
    given = {"level": level, "min_per_class": min_per_class}
    merged = {**table, **{k: v for k, v in given.items() if v is not None}}
    camera_options(merged)
    return merged


def camera_options(table: Mapping[str, Any]) -> CameraOptions:
    """The camera audits' options from their table, checked (run at start-up too).

    Raises
    ------
    ConfigError
        An unknown key, level or simulated set, or a ``min_per_class`` under 2.

    Examples
    --------
    >>> camera_options({"level": "make", "min_per_class": 5})
    CameraOptions(level='make', min_per_class=5, simulated='shared_jpeg')
    """
    where = "[tool.auditkit.camera]"
    unknown = sorted(set(table) - {"level", "min_per_class", "simulated"})
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {unknown!r}: expected level, "
                          "min_per_class or simulated")
    out = CameraOptions(**table)
    if out.level not in LEVEL_CHOICES:
        raise ConfigError(f"{where} level = {out.level!r} (--audit-camera-level): expected one "
                          f"of {', '.join(LEVEL_CHOICES)}")
    least = 2
    if (isinstance(out.min_per_class, bool) or not isinstance(out.min_per_class, int)
            or out.min_per_class < least):
        raise ConfigError(f"{where} min_per_class = {out.min_per_class!r} "
                          f"(--audit-camera-min-per-class): expected an integer >= {least}")
    if not isinstance(out.simulated, str):
        raise ConfigError(f"{where} simulated = {out.simulated!r}: expected a set name")
    camera_set(out.simulated)
    return out


def _measure_camera(ctx: AuditContext, masked: bool) -> dict[str, Measurement]:
    options = camera_options(ctx.options)
    out = measure(ctx.embedder, ctx.probe_set, seed=ctx.seed, masked=masked,
                  level=options.level, min_per_class=options.min_per_class,
                  simulated=options.simulated)
    if masked:
        # The camera_model audit's own measurement of the same photos: the run
        # measures it once, whichever of the two asks first.
        add_retention(out, ctx.measurement_of(AUDIT)["leakage"])
    return out


def add_retention(masked: dict[str, Measurement], plain: Measurement) -> None:
    """Record how much of the unmasked leakage the masked control keeps, as a caveat.

    Examples
    --------
    >>> add_retention(ms, plain["leakage"])  # doctest: +SKIP
    >>> ms["leakage"].details["retention"]["ratio"]  # doctest: +SKIP
    0.42
    """
    details = masked["leakage"].details
    kept = masked["leakage"].value
    if plain.value > 0.05:
        ratio: float | None = kept / plain.value
        line = (f"the masked control keeps {ratio:.0%} of the unmasked leakage "
                f"({kept:.3f} of {plain.value:.3f})")
    else:
        ratio = None
        line = (f"unmasked leakage {plain.value:.3f} is too small for the masked control's "
                f"retention to mean anything (masked {kept:.3f})")
    details["retention"] = {"masked": kept, "unmasked": plain.value,
                            "unmasked_ci": list(plain.ci), "ratio": ratio}
    details.setdefault("caveats", []).append(line)


def _camera_inputs(ctx: AuditContext) -> dict[str, Any]:
    """The camera label of every photo, for the measurement key.

    Labels come from a manifest's ``camera`` / ``make`` / ``model`` columns
    or from EXIF, neither of which the probe set's digest covers: a shuffled
    camera column must measure again. The built-in set's cameras are
    simulated by auditkit's own code, which the key covers already.
    """
    probe_set = ctx.probe_set
    options = camera_options(ctx.options)
    if _is_builtin(probe_set):
        return {"cameras": "simulated", "simulated": options.simulated}
    found, _ = choose_level(probe_set.images, options.level, options.min_per_class)
    return {"level": found.level, "cameras": stable_hash(
        sorted(found.labels.items()), sorted(found.display.items()), found.sources,
        sorted(reason for _, reason in found.missing),
    )}


@register_audit(
    AUDIT,
    thresholds={"max_leakage": [0.1, 0.5]},
    note="On the built-in set the cameras are simulated; on --audit-data, EXIF Make/Model.",
    card="camera",
    config_table="camera",
    inputs=_camera_inputs,
)
def measure_camera_model(ctx: AuditContext) -> dict[str, Measurement]:
    """Which camera took the photo, from the embedding."""
    return _measure_camera(ctx, masked=False)


@register_audit(MASKED_AUDIT, thresholds={"max_leakage": [0.1, 0.5]}, card="camera",
                config_table="camera", inputs=_camera_inputs)
def measure_camera_model_masked(ctx: AuditContext) -> dict[str, Measurement]:
    """The camera audit with the centre 95 % of the model input blanked: the semantic control."""
    return _measure_camera(ctx, masked=True)
