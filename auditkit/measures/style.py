"""Style audits (Substance or Style, Rashtchian et al. 2023).

A linear probe on frozen embeddings predicts which transformation of the
catalogue (:mod:`auditkit.transforms.catalogue`) was applied to an image:

``style_fine_grained``
    which transformation, over all of them (chance 1/K);
``style_generalisation``
    which *family*, trained on some members of each family and tested on
    the held-out members (chance 1/F): does the embedding know "a blur" or
    "a style" beyond the instances it was shown?
``style_recognition``
    which style, within the style family alone; when the project configures
    folders of real style-transfer outputs (``[tool.auditkit.style]
    folders``), those styles are the headline and the built-in ones go to
    the details.

Each source image gets ``per_image`` transformations, not all of them
(:mod:`auditkit.measures.style_sampling`); all three audits request the same
pairs, so the extractor embeds each pair once. Variants of one source image
never straddle a train/test split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold

from auditkit import seeds
from auditkit.context import AuditContext
from auditkit.data.base import ProbeSet
from auditkit.data.styles import folders_digest, folders_from_config, style_folder_set
from auditkit.errors import ConfigError
from auditkit.extract import Embedder, EmbeddingTable
from auditkit.measures.classification import measure_probe, probe_details, score_measurements
from auditkit.measures.style_sampling import DEFAULT_PER_IMAGE, embed_assigned
from auditkit.power import planted_check
from auditkit.probes import LinearProbe, Matrix, ProbeScore, score_predictions
from auditkit.probes import rows as select_rows
from auditkit.registry import register_audit
from auditkit.transforms.base import ORIGINAL, Variant
from auditkit.transforms.catalogue import catalogue
from auditkit.transforms.catalogue import families as by_family
from auditkit.verdicts import Measurement

AUDITS = ("style_fine_grained", "style_generalisation", "style_recognition")
#: Seen/held-out partitions of the family members pooled by the generalisation audit.
DEFAULT_REPEATS = 3
STYLE_FAMILY = "style"


# --------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class StyleOptions:
    """``[tool.auditkit.style]``: how the style audits sample and what they include.

    Parameters
    ----------
    per_image : int
        Transformations per source image.
    families : tuple of str or None
        Catalogue families to use (default: all).
    folders : tuple of str
        Style-transfer folders for ``style_recognition`` (relative to ``root``).
    repeats : int
        Seen/held-out partitions pooled by ``style_generalisation``.
    root : Path or None
        The project root relative folders are resolved against.
    """

    per_image: int = DEFAULT_PER_IMAGE
    families: tuple[str, ...] | None = None
    folders: tuple[str, ...] = ()
    repeats: int = DEFAULT_REPEATS
    root: Path | None = None
    extra: tuple[Variant, ...] = field(default=(), compare=False)


def options_from_config(table: Any, root: Path | None = None) -> StyleOptions:
    """Validated :class:`StyleOptions` from the ``[tool.auditkit.style]`` table.

    Examples
    --------
    >>> options_from_config({"per_image": 8, "folders": ["styles/nst"]}).per_image
    8
    """
    if table is None:
        table = {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"[tool.auditkit.style] = {table!r}: expected a table")
    known = ("per_image", "families", "folders", "repeats")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(
            f"[tool.auditkit.style] has unknown key(s) {', '.join(map(repr, unknown))}: "
            f"expected some of {', '.join(known)}"
        )
    fams = table.get("families")
    if fams is not None and (
        not isinstance(fams, list) or not fams or not all(isinstance(f, str) for f in fams)
    ):
        raise ConfigError(
            f"[tool.auditkit.style] families = {fams!r}: expected a non-empty list of family "
            "names, e.g. [\"style\", \"filter\"]"
        )
    for key in ("per_image", "repeats"):
        value = table.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"[tool.auditkit.style] {key} = {value!r}: expected a positive integer"
            )
    return StyleOptions(
        per_image=table.get("per_image", DEFAULT_PER_IMAGE),
        families=tuple(fams) if fams is not None else None,
        folders=tuple(folders_from_config(table)),
        repeats=table.get("repeats", DEFAULT_REPEATS),
        root=root,
    )


def _variants(families: Iterable[str] | None, extra: Iterable[Variant]) -> list[Variant]:
    variants = [*catalogue(families), *extra]
    ids = [v.id for v in variants]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(f"extra transformations repeat catalogue ids {repeated!r}")
    return variants


def _variant_details(variants: Sequence[Variant], per_image: int, n_images: int) -> dict:
    return {
        "variants": [
            {"id": v.id, "family": v.family, "label": v.label, "params": dict(v.params)}
            for v in variants
        ],
        "per_image": per_image,
        "n_images": n_images,
    }


# --------------------------------------------------------------------------
# The three audits


def measure_fine_grained(
    extractor: Embedder,
    probe_set: ProbeSet,
    seed: int = 0,
    *,
    data_seed: int | None = None,
    per_image: int = DEFAULT_PER_IMAGE,
    families: Iterable[str] | None = None,
    extra: Iterable[Variant] = (),
) -> dict[str, Measurement]:
    """Probe which transformation of the catalogue was applied (chance 1/K).

    Details add, per family, the balanced accuracy of the fine-grained
    predictions on that family's rows and how often the predicted
    transformation at least lies in the right family.

    Examples
    --------
    >>> ms = measure_fine_grained(Extractor(build_encoder("pixels")), probe_set)  # doctest: +SKIP
    >>> ms["leakage"].details["per_family"]["style"]                          # doctest: +SKIP
    """
    variants = _variants(families, extra)
    table = embed_assigned(extractor, probe_set, variants, per_image, _data(seed, data_seed))
    extra_details = _variant_details(variants, per_image, len(set(table.image_ids.tolist())))
    extra_details["skipped_pairs"] = _skipped_pairs(probe_set, variants, per_image, table)
    ms = measure_probe(table.features(), table.variant_ids, table.groups, seed=seed,
                       class_names={v.id: v.label for v in variants}, extra=extra_details)
    details = ms["leakage"].details
    details["per_family"] = per_family(
        np.asarray(details["confusion"]), details["class_ids"], {v.id: v.family for v in variants}
    )
    return ms


def per_family(confusion: np.ndarray, class_ids: Sequence[str], family_of: Mapping[str, str]
               ) -> dict[str, dict[str, float]]:
    """Per family: fine-grained balanced accuracy on its rows, and the share predicted in-family.

    Both are means over the family's classes of a per-class rate, so a
    family's larger classes do not dominate; ``in_family_chance`` is the
    share a random guess would land in the family.

    Examples
    --------
    >>> per_family(np.array([[2, 0], [1, 1]]), ["a/x", "b/y"], {"a/x": "a", "b/y": "b"})["b"]
    {'members': 1, 'accuracy': 0.5, 'in_family': 0.5, 'in_family_chance': 0.5}
    """
    conf = np.asarray(confusion, dtype=float)
    fam = np.array([family_of[c] for c in class_ids])
    support = np.maximum(conf.sum(axis=1), 1)
    out = {}
    for name in dict.fromkeys(fam.tolist()):
        rows = np.flatnonzero(fam == name)
        recall = conf[rows, rows] / support[rows]
        inside = conf[np.ix_(rows, rows)].sum(axis=1) / support[rows]
        out[name] = {
            "members": len(rows),
            "accuracy": float(recall.mean()),
            "in_family": float(inside.mean()),
            "in_family_chance": len(rows) / len(class_ids),
        }
    return out


def measure_generalisation(
    extractor: Embedder,
    probe_set: ProbeSet,
    seed: int = 0,
    *,
    data_seed: int | None = None,
    per_image: int = DEFAULT_PER_IMAGE,
    families: Iterable[str] | None = None,
    extra: Iterable[Variant] = (),
    repeats: int = DEFAULT_REPEATS,
) -> dict[str, Measurement]:
    """Probe the family of transformations the probe never saw (chance 1/F).

    Per repeat, each family's members are split at random into halves A
    and B, and the source groups into halves 1 and 2. Four probes (trained
    on A1, A2, B1, B2) each predict the family on the opposite member half
    *and* the opposite group half, so every row gets one prediction from a
    probe that saw neither its transformation nor its source image. The
    headline pools the ``repeats`` partitions (a group bootstrap over the
    pooled predictions); details list each. Families with one member cannot
    be split and are left out (named in the details).

    Examples
    --------
    >>> ms = measure_generalisation(extractor, probe_set, repeats=2)  # doctest: +SKIP
    """
    variants = _variants(families, extra)
    groups_of = by_family(variants)
    kept = {f: members for f, members in groups_of.items() if len(members) >= 2}
    left_out = sorted(set(groups_of) - set(kept))
    if len(kept) < 2:
        raise ConfigError(
            f"style_generalisation needs two families with two or more members each, got "
            f"{ {f: len(m) for f, m in groups_of.items()} !r}; add families or members"
        )
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats = {repeats!r}: expected a positive integer")
    # The pairs come from the whole variant list, as in the other two audits.
    table = embed_assigned(extractor, probe_set, variants, per_image, _data(seed, data_seed))
    family_of = {v.id: v.family for v in variants}
    table = table.select(np.array([family_of[v] in kept for v in table.variant_ids], bool))
    y = np.array([family_of[v] for v in table.variant_ids], dtype=object)
    classes = list(kept)
    runs, preds, first_cs = [], [], [1.0]
    X = table.features()
    for r in range(repeats):
        held_out, pred, chosen = _held_out_predictions(table, X, y, kept, seed, r)
        first_cs = chosen if r == 0 else first_cs
        preds.append(pred)
        score = score_predictions(y, pred, table.groups, classes=classes, seed=seed)
        runs.append({"held_out": held_out, **_summary(score)})
    pooled = score_predictions(
        np.tile(y, repeats), np.concatenate(preds), np.tile(table.groups, repeats),
        classes=classes, seed=seed,
    )
    # What a threshold-sized family signal reads as under this held-out design,
    # on the first partition (the pooled headline only narrows its interval).
    probe = LinearProbe(Cs=(min(first_cs),), random_state=seed)
    check = planted_check(
        X, y, table.groups, preds[0], seed=seed,
        predict=lambda X, labels: _held_out_predictions(table, X, labels, kept, seed, 0,
                                                        probe)[1],
    )
    details = probe_details(pooled)
    details.update(_variant_details(variants, per_image, len(set(table.image_ids.tolist()))))
    details.update({
        "n": len(y),
        "repeats": runs,
        "families": {f: [v.id for v in m] for f, m in kept.items()},
        "left_out_families": {
            f: "one member: nothing to hold out" for f in left_out
        },
        "probe": "logistic regression (balanced, C by inner grouped CV) trained on half the "
                 "members of each family and half the source groups, tested on the other "
                 f"halves of both; {repeats} random member partitions pooled",
    })
    return score_measurements(pooled, details, n=len(y), planted=check)


def _held_out_predictions(
    table: EmbeddingTable, X: Matrix, y: np.ndarray, kept: Mapping[str, list[Variant]],
    seed: int, r: int, probe: LinearProbe | None = None,
) -> tuple[dict[str, list[list[str]]], np.ndarray, list[float]]:
    """Predictions of ``y`` from rows of ``X`` (``table``'s design) by probes that saw
    neither the row's transformation nor its source group; the halves and the Cs chosen."""
    rng = seeds.rng(seed, r, seeds.STYLE_PARTITION)
    half_a: set[str] = set()
    halves = {}
    for name, members in kept.items():
        ids = [members[i].id for i in rng.permutation(len(members))]
        cut = (len(ids) + int(rng.integers(2))) // 2  # odd sizes: either half gets the extra
        half_a.update(ids[:cut])
        halves[name] = [sorted(ids[:cut]), sorted(ids[cut:])]
    member_half = np.array([v in half_a for v in table.variant_ids], dtype=int)
    group_half = np.zeros(len(y), dtype=int)
    folds = StratifiedGroupKFold(2, shuffle=True, random_state=seeds.partition_state(seed, r))
    # Stratified by the real families, not ``y``: a planted copy gets the same halves.
    family_of = {v.id: name for name, members in kept.items() for v in members}
    families = np.array([family_of[v] for v in table.variant_ids], dtype=object)
    _, second = next(folds.split(np.zeros(len(y)), families, table.groups))
    group_half[second] = 1
    pred = np.empty(len(y), dtype=object)
    chosen = []
    for mh in (0, 1):
        for gh in (0, 1):
            train = (member_half == mh) & (group_half == gh)
            test = (member_half != mh) & (group_half != gh)
            if not test.any():
                continue
            model = (LinearProbe(random_state=seed) if probe is None else clone(probe)).fit(
                select_rows(X, train), y[train], table.groups[train]
            )
            pred[test] = model.predict(select_rows(X, test))
            chosen.append(model.C_)
    return halves, pred, chosen


def _summary(score: ProbeScore) -> dict[str, Any]:
    return {
        "accuracy": score.accuracy,
        "accuracy_ci": list(score.accuracy_ci),
        "leakage": score.leakage,
        "leakage_ci": list(score.leakage_ci),
        "per_class": score.per_class,
    }


def measure_recognition(
    extractor: Embedder,
    probe_set: ProbeSet,
    seed: int = 0,
    *,
    data_seed: int | None = None,
    per_image: int = DEFAULT_PER_IMAGE,
    families: Iterable[str] | None = None,
    extra: Iterable[Variant] = (),
    folders: Sequence[str | Path] = (),
    root: Path | None = None,
    max_images: int | None = None,
) -> dict[str, Measurement]:
    """Probe which style was applied, within the style family alone (chance 1/S).

    The built-in (and registered) styles are read off the same assigned
    pairs as the other style audits. With ``folders`` of style-transfer
    outputs, those are probed on their own (label = style folder, group =
    content) and are the headline, because a user who configures them wants
    the verdict on real style transfer; the built-in result moves to
    ``details["builtin_styles"]``. They are not pooled into one probe: the
    folder images and the built-in ones differ in content, so a pooled probe
    would score above chance by telling the two sources apart.

    Examples
    --------
    >>> ms = measure_recognition(extractor, probe_set, folders=["styles/nst"])  # doctest: +SKIP
    """
    variants = _variants(families, extra)
    styles = [v for v in variants if v.family == STYLE_FAMILY]
    if len(styles) < 2 and not folders:
        raise ConfigError(
            f"style_recognition needs at least two transformations of family "
            f"{STYLE_FAMILY!r}, got {len(styles)}; keep the family in [tool.auditkit.style] "
            "families or configure style folders"
        )
    builtin = None
    if len(styles) >= 2:
        table = embed_assigned(extractor, probe_set, variants, per_image, _data(seed, data_seed))
        table = table.select(np.array([v in {s.id for s in styles} for v in table.variant_ids],
                                      bool))
        info = _variant_details(styles, per_image, len(set(table.image_ids.tolist())))
        info["measured_on"] = "built-in style transformations of the probe set"
        builtin = measure_probe(table.features(), table.variant_ids, table.groups, seed=seed,
                                class_names={v.id: v.label for v in styles}, extra=info)
    if not folders and builtin is not None:
        return builtin
    style_set = style_folder_set(folders, root=root, max_images=max_images,
                                 seed=_data(seed, data_seed))
    folder_table = extractor.embed(style_set.images, [ORIGINAL])
    info = {
        "measured_on": "style-transfer folders " + ", ".join(str(f) for f in folders),
        "description": style_set.description,
        "class_counts": style_set.class_counts(),
        "n_contents": len({im.group for im in style_set.images}),
        "skipped": [f"{s.path}: {s.reason}" for s in style_set.skipped],
        "failed": len(style_set.images) - len(folder_table),
    }
    if builtin is not None:
        b = builtin["leakage"]
        info["builtin_styles"] = {
            "leakage": b.value, "leakage_ci": list(b.ci), "accuracy": builtin["accuracy"].value,
            "accuracy_ci": list(builtin["accuracy"].ci), "chance": b.chance, "n": b.n,
            "per_class": b.details["per_class"],
        }
    return measure_probe(folder_table.features(), folder_table.labels, folder_table.groups,
                         seed=seed, extra=info)


def _data(seed: int, data_seed: int | None) -> int:
    # Which pairs are embedded is data, not a split: it follows the run seed,
    # so that another split seed reuses every cached embedding.
    return seed if data_seed is None else data_seed


def _skipped_pairs(probe_set: ProbeSet, variants: Sequence[Variant], per_image: int,
                   table: EmbeddingTable) -> int:
    return len(probe_set.images) * min(per_image, len(variants)) - len(table)


def measure(
    audit: str,
    extractor: Embedder,
    probe_set: ProbeSet,
    seed: int = 0,
    options: StyleOptions | None = None,
    max_images: int | None = None,
    data_seed: int | None = None,
) -> dict[str, Measurement]:
    """Measure one style audit by name (one of :data:`AUDITS`) with its options.

    Examples
    --------
    >>> options = options_from_config({"folders": ["styles/nst"]}, root)  # doctest: +SKIP
    >>> ms = measure("style_recognition", extractor, probe_set, options=options)  # doctest: +SKIP
    """
    o = options or StyleOptions()
    if audit == "style_fine_grained":
        return measure_fine_grained(extractor, probe_set, seed, data_seed=data_seed,
                                    per_image=o.per_image, families=o.families, extra=o.extra)
    if audit == "style_generalisation":
        return measure_generalisation(extractor, probe_set, seed, data_seed=data_seed,
                                      repeats=o.repeats,
                                      per_image=o.per_image, families=o.families, extra=o.extra)
    if audit == "style_recognition":
        return measure_recognition(extractor, probe_set, seed, data_seed=data_seed,
                                   folders=o.folders, root=o.root,
                                   max_images=max_images, per_image=o.per_image,
                                   families=o.families, extra=o.extra)
    raise ConfigError(f"unknown style audit {audit!r}: expected one of {', '.join(AUDITS)}")


def _style_inputs(ctx: AuditContext) -> dict[str, Any]:
    """What a style measurement consumed, for its key.

    The resolved options; the key of every variant of the catalogue used,
    which covers transformations registered in a ``conftest.py`` and the
    code of each (:attr:`Variant.key`); and for ``style_recognition``, the
    only one that reads them, the bytes of the style folders' files.
    """
    # Resolved, so that an invalid table is an error of the case, not of the key.
    o = options_from_config(ctx.options, ctx.root)
    inputs: dict[str, Any] = {
        "max_images": ctx.max_images, "per_image": o.per_image, "families": o.families,
        "folders": o.folders, "repeats": o.repeats,
        "variants": [v.key for v in _variants(o.families, o.extra)],
    }
    if ctx.audit == "style_recognition" and o.folders:
        inputs["folder_files"] = folders_digest(o.folders, root=o.root)
    return inputs


def _measure_style(audit: str, ctx: AuditContext) -> dict[str, Measurement]:
    return measure(audit, ctx.embedder, ctx.probe_set, seed=ctx.seed,
                   options=options_from_config(ctx.options, ctx.root), max_images=ctx.max_images,
                   data_seed=ctx.data_seed)


for _audit in AUDITS:
    register_audit(
        _audit,
        # Recognising a style is often wanted, so only the lenient tier is stock.
        thresholds={"max_leakage": [0.5]},
        card="style",
        config_table="style",
        inputs=_style_inputs,
    )(partial(_measure_style, _audit))
