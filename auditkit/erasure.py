"""Erasing a found trace from an encoder's embeddings, and scoring what is left.

``auditkit mitigate`` fits a LEACE eraser (Belrose et al., NeurIPS 2023; the
``concept-erasure`` package) for the traces named by audits, on one half of
the probe set's groups, and writes it as a small safetensors file. The spec
form ``SPEC+erase:PATH`` (:mod:`auditkit.encoders.erased`) applies it.

What is erased
    Each trace's labels are its audit's classes, on its audit's variants:
    ``jpeg_quality`` the six JPEG settings, ``camera_model`` the (simulated
    or EXIF) cameras. Several traces are erased one after another; each
    LEACE step is linear, so it keeps the zero cross-covariance the steps
    before it reached, and the composition is one affine map per stage.

The map: two stages
    The probes and the k-NN L2-normalise the embeddings, which is not linear.
    A trace that adds a fixed offset to the encoder's own rows is linear
    there, but after the normalisation it is scaled by a norm that depends on
    the content too; an affine map that matches the class means of the
    normalised rows cannot remove that interaction (on the planted encoder of
    the tests it left 0.008 to 0.018 of leakage on new images, fitted on 80
    to 800 images, with or without per-row noise; docs/mitigation.md). So the
    eraser fits LEACE twice: on the embeddings as the encoder gives them
    (:attr:`Eraser.raw`), then on the L2-normalised rows of that stage's
    output (:attr:`Eraser.normalised`), where the guarantee is on what the
    probes see. Each stage is ``x' = x - (x @ down) @ up + shift``, of rank
    at most the classes erased, so the file stays small at any D.

Held-out groups
    The eraser records the groups it was fitted on; :func:`held_out` keeps
    only the others, and refuses a probe set with none left. LEACE removes
    the linearly decodable part *on the data it was fitted on*; scoring it
    on those groups would show a leakage of zero by construction.

Not gone
    LEACE guarantees only that no *linear* probe beats a constant one. A
    small MLP (:func:`mlp_leakage`) is scored beside the linear probe, so
    that "erased" is never read as "gone".

Semantic utility
    The ``semantic_utility`` audit (:data:`SEMANTIC_AUDIT`: the probe set's
    own classes by grouped k-NN and linear probe, on the unprocessed images)
    is measured on the held-out groups before and after.

Examples
--------
>>> eraser = fit_eraser(Extractor(build_encoder("pixels")), builtin_probe_set(),
...                     ["jpeg_quality"], source=source_of(encoder))  # doctest: +SKIP
>>> eraser.save("pixels-jpeg.safetensors")                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from auditkit import seeds
from auditkit.data.base import ProbeSet
from auditkit.errors import ConfigError, ProbeSetError, SpecError
from auditkit.extract import Embedder, EmbeddingTable
from auditkit.knn import l2_normalise
from auditkit.probes import ProbeScore, fold_of, on_host, outer_folds, score_predictions
from auditkit.transforms.base import Variant

__all__ = [
    "ERASABLE",
    "STAGES",
    "ErasedEmbedder",
    "Eraser",
    "Stage",
    "TraceRows",
    "fit_eraser",
    "held_out",
    "mitigation_document",
    "mlp_leakage",
    "parse_stages",
    "split_groups",
    "trace_rows",
]

#: The file format tag in every eraser's metadata.
FORMAT = "auditkit-eraser-v2"
#: The tag of the one-stage erasers (normalised rows only) written before it.
_FORMAT_V1 = "auditkit-eraser-v1"
#: The audits whose classes an eraser can be fitted for.
ERASABLE = ("jpeg_quality", "camera_model")
#: Share of each class's groups held out of the fit (the rest fit the eraser).
HELD_OUT_FRACTION = 0.5
#: The semantic-utility audit, measured before and after.
SEMANTIC_AUDIT = "semantic_utility"
#: Units of the MLP check's hidden layer, and its most L-BFGS iterations (full batch:
#: the held-out sets are small).
MLP_HIDDEN = 64
MLP_EPOCHS = 200
#: The most of the embedding's dimensions a per-class eraser may take (its rank bound).
PER_CLASS_MAX_SHARE = 0.25
#: Which stages ``auditkit mitigate --stages`` fits (the default first).
STAGES = ("both", "raw", "normalised")
#: The eraser's stages in the order they apply, and the tensors of each in the file.
_STAGE_NAMES = ("raw", "normalised")
_PARTS = ("down", "up", "shift")
#: Singular values of the map's difference from the identity below this are dropped.
_RANK_TOL = 1e-9


@dataclass(frozen=True)
class Stage:
    """One low-rank affine map, ``x' = x - (x @ down) @ up + shift``.

    ``down @ up`` is the map's difference from the identity, of rank at most
    the classes erased, so a stage stays small at any D.
    """

    down: np.ndarray
    up: np.ndarray
    shift: np.ndarray

    @classmethod
    def of(cls, M: np.ndarray, c: np.ndarray) -> Stage:
        """The stage ``x' = x @ M + c``, its difference from the identity kept at its rank."""
        u, s, vt = np.linalg.svd(np.eye(len(c)) - M)
        r = int((s > _RANK_TOL * max(1.0, float(s[0]))).sum())
        return cls(u[:, :r] * s[:r], vt[:r], c)

    @classmethod
    def identity(cls, dim: int) -> Stage:
        """The stage that changes nothing (a stage not fitted)."""
        return cls(np.zeros((dim, 0)), np.zeros((0, dim)), np.zeros(dim))

    @property
    def rank(self) -> int:
        return int(self.down.shape[1])

    def apply(self, X: np.ndarray) -> np.ndarray:
        return X - (X @ self.down) @ self.up + self.shift


@dataclass(frozen=True)
class Eraser:
    """A two-stage eraser with its provenance.

    ``apply(X) = normalised.apply(u)`` with ``u`` the L2-normalised rows of
    ``raw.apply(X)``.

    Parameters
    ----------
    raw : Stage
        Erases on the encoder's own rows: a trace that adds to them is
        removed there, before the L2 normalisation mixes it with the content.
    normalised : Stage
        Erases on the L2-normalised rows, what the probes and the k-NN see.
    metadata : mapping of str to str
        Provenance, as stored in the safetensors header (JSON values as text).
    """

    raw: Stage
    normalised: Stage
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.raw.shift.shape[0])

    @property
    def rank(self) -> int:
        """Directions changed, over both stages."""
        return self.raw.rank + self.normalised.rank

    def _tensors(self) -> dict[str, np.ndarray]:
        """The file's tensors by name (``raw.down``, ..., ``normalised.shift``)."""
        return {f"{name}.{part}": getattr(getattr(self, name), part)
                for name in _STAGE_NAMES for part in _PARTS}

    @property
    def digest(self) -> str:
        """SHA-256 over the map and its metadata: what enters an erased encoder's fingerprint."""
        h = hashlib.sha256(FORMAT.encode())
        for part in self._tensors().values():
            h.update(np.ascontiguousarray(part, dtype=np.float32).tobytes())
        h.update(json.dumps(dict(self.metadata), sort_keys=True).encode())
        return h.hexdigest()

    @property
    def fitted_groups(self) -> frozenset[str]:
        """The probe-set groups the eraser was fitted on."""
        return frozenset(json.loads(self.metadata.get("fitted_groups", "[]")))

    @property
    def traces(self) -> list[str]:
        return list(json.loads(self.metadata.get("traces", "[]")))

    @property
    def options(self) -> dict[str, dict[str, Any]]:
        """The audit tables the traces were labelled with (``{"camera": {...}}``)."""
        return dict(json.loads(self.metadata.get("options", "{}")))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """The erased embeddings of the rows of ``X`` (float32)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"got embeddings of shape {X.shape}, the eraser maps dimension "
                             f"{self.dim}: it was fitted on {self.metadata.get('source')!r}")
        return self.normalised.apply(l2_normalise(self.raw.apply(X))).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        """Write the eraser as safetensors (float32 tensors, provenance in the header)."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {name: np.ascontiguousarray(value, dtype=np.float32)
                   for name, value in self._tensors().items()}
        save_file(tensors, str(path), metadata={**self.metadata, "format": FORMAT})
        return path

    @classmethod
    def load(cls, path: str | Path) -> Eraser:
        """Read an eraser :meth:`save` wrote.

        Raises
        ------
        SpecError
            The file is missing, not safetensors, or not an auditkit eraser.
        """
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise SpecError(f"eraser file {str(path)!r} does not exist: write one with "
                            "'auditkit mitigate --encoder SPEC --erase TRACES --out PATH'")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = dict(f.metadata() or {})
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except Exception as exc:
            raise SpecError(f"eraser file {str(path)!r} is not a readable safetensors file "
                            f"({type(exc).__name__}: {exc})") from exc
        form = meta.pop("format", None)
        if form == _FORMAT_V1:
            raise SpecError(f"{str(path)!r} is an eraser of an earlier auditkit ({form}), which "
                            "erased on the normalised rows only: fit it again with 'auditkit "
                            "mitigate'")
        if form != FORMAT or set(tensors) != {f"{n}.{p}" for n in _STAGE_NAMES for p in _PARTS}:
            raise SpecError(f"{str(path)!r} is not an auditkit eraser ({FORMAT}): write one "
                            "with 'auditkit mitigate'")
        raw, normalised = (Stage(*(tensors[f"{name}.{part}"] for part in _PARTS))
                           for name in _STAGE_NAMES)
        return cls(raw, normalised, meta)


# -- the labels each trace is erased by -----------------------------------------------------


@dataclass
class TraceRows:
    """Embeddings labelled with one trace's classes, as its audit labels them."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    #: Each row's semantic class (the probe set's label): what a per-class eraser erases within.
    labels: np.ndarray | None = None


def trace_rows(trace: str, embedder: Embedder, probe_set: ProbeSet,
               options: Mapping[str, Any] | None = None) -> TraceRows:
    """Embed ``probe_set`` under audit ``trace``'s variants, labelled with its classes.

    ``options`` is the trace's audit table (``[tool.auditkit.camera]`` for
    ``camera_model``), so that the classes erased are the classes audited.

    Raises
    ------
    ConfigError
        ``trace`` is not one of :data:`ERASABLE`.
    """
    if trace == "jpeg_quality":
        from auditkit.transforms.quality import jpeg_grid

        table = embedder.embed(probe_set.images, jpeg_grid())
        return TraceRows(table.X, table.variant_ids.astype(str), table.groups.astype(str),
                         table.labels.astype(str))
    if trace == "camera_model":
        from dataclasses import asdict

        from auditkit.measures.camera_model import camera_options, camera_rows

        rows = camera_rows(embedder, probe_set, **asdict(camera_options(options or {})))
        label_of = {im.id: im.label for im in probe_set.images}
        labels = np.array([label_of[i] for i in rows.image_ids.tolist()], dtype=object)
        return TraceRows(on_host(rows.X), rows.y, rows.groups, labels.astype(str))
    raise ConfigError(f"cannot erase {trace!r}: expected one or more of {', '.join(ERASABLE)}")


def parse_traces(value: str | Sequence[str]) -> list[str]:
    """``"jpeg_quality,camera_model"`` as a list, each checked against :data:`ERASABLE`."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ConfigError(f"--erase {value!r} names no trace: expected e.g. 'jpeg_quality'")
    for name in names:
        if name not in ERASABLE:
            from auditkit.encoders.spec import suggest

            raise ConfigError(f"cannot erase {name!r}{suggest(name, list(ERASABLE))}: expected "
                              f"one or more of {', '.join(ERASABLE)}, comma-separated")
    return list(dict.fromkeys(names))


def parse_stages(value: str) -> str:
    """``value`` checked against :data:`STAGES`."""
    if value not in STAGES:
        raise ConfigError(f"--stages {value!r}: expected one of {', '.join(STAGES)}")
    return value


# -- which groups fit, which are held out ---------------------------------------------------


def split_groups(probe_set: ProbeSet, seed: int = 0,
                 fraction: float = HELD_OUT_FRACTION) -> tuple[list[str], list[str]]:
    """``(fit groups, held-out groups)``: ``fraction`` of each class's groups held out.

    The split is the retrieval audit's class-stratified group split, on the
    seed stream :func:`auditkit.seeds.erasure_seed` derives, so it draws
    apart from the retrieval audit's own query split.
    """
    from auditkit.measures.retrieval_shift import split_queries

    groups = np.array([im.group for im in probe_set.images], dtype=object)
    split = split_queries(probe_set.labels, groups, fraction, seed=seeds.erasure_seed(seed))
    return (sorted(set(groups[split.database].tolist())),
            sorted(set(groups[split.queries].tolist())))


def _subset(probe_set: ProbeSet, groups: set[str] | frozenset[str], keep: bool, why: str
            ) -> ProbeSet:
    images = [im for im in probe_set.images if (im.group in groups) == keep]
    return ProbeSet(f"{probe_set.name} ({why})", images, probe_set.skipped,
                    probe_set.description)


def held_out(probe_set: ProbeSet, eraser: Eraser) -> ProbeSet:
    """The images of ``probe_set`` in groups ``eraser`` was not fitted on.

    Raises
    ------
    ProbeSetError
        No group is left: scored on the groups it was fitted on, an eraser's
        linear leakage is zero by construction and says nothing.
    """
    fitted = eraser.fitted_groups
    out = _subset(probe_set, fitted, keep=False, why="groups the eraser never saw")
    if not out.images:
        raise ProbeSetError(
            f"every group of probe set {probe_set.name!r} was used to fit the eraser "
            f"({len(fitted)} groups): scored on them, its leakage is zero by construction. "
            "Fit it on one split ('auditkit mitigate' holds half the groups out) or audit "
            "other images"
        )
    return out


# -- fitting --------------------------------------------------------------------------------


def concept_matrix(y: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """What LEACE erases: one-hot ``y``, or one-hot ``(within, y)`` centred in each ``within``.

    Centred within each semantic class, the columns are the trace's deviation
    from that class's own mean: erasing them equalises the trace's means in
    every class and leaves the classes' means (what the embedding is for) alone.

    Examples
    --------
    >>> concept_matrix(np.array(["q75", "q95"])).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> concept_matrix(np.array(["q75", "q95", "q75"]), np.array(["cat", "cat", "dog"])).tolist()
    [[0.5, -0.5, 0.0, 0.0], [-0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    classes, codes = np.unique(y, return_inverse=True)
    if within is None:
        return np.eye(len(classes))[codes]
    groups, where = np.unique(within, return_inverse=True)
    k = len(classes)
    z = np.zeros((len(y), len(groups) * k))
    z[np.arange(len(y)), where * k + codes] = 1.0
    for g in range(len(groups)):
        rows, cols = where == g, slice(g * k, (g + 1) * k)
        z[rows, cols] -= z[rows, cols].mean(axis=0)
    return z


def _leace_step(X: np.ndarray, y: np.ndarray, within: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` of one LEACE eraser, ``x' = x - (x - b) @ A`` (see :func:`concept_matrix`)."""
    import torch

    with warnings.catch_warnings():
        # concept_erasure decorates helpers we do not use with torch.jit.script,
        # which torch deprecates with a FutureWarning on import.
        warnings.simplefilter("ignore", FutureWarning)
        from concept_erasure import LeaceFitter

    z = concept_matrix(y, within)
    # constrain_cov_trace would blend in an orthogonal projection, which gives up
    # LEACE's guarantee (zero cross-covariance with the labels); it is off.
    fitter = LeaceFitter.fit(torch.as_tensor(X, dtype=torch.float64),
                             torch.as_tensor(z, dtype=torch.float64), constrain_cov_trace=False)
    e = fitter.eraser
    A = (e.proj_right.mH @ e.proj_left.mH).cpu().numpy()
    b = (e.bias.cpu().numpy() if e.bias is not None else np.zeros(X.shape[1]))
    return A, b


def _versions() -> dict[str, str]:
    import auditkit

    out = {"auditkit": auditkit.__version__}
    for dist in ("concept-erasure", "torch", "numpy"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def fit_eraser(embedder: Embedder, probe_set: ProbeSet, traces: Sequence[str], *,
               source: Mapping[str, str], seed: int = 0,
               fraction: float = HELD_OUT_FRACTION,
               options: Mapping[str, Mapping[str, Any]] | None = None,
               per_class: bool = False, stages: str = "both") -> Eraser:
    """Fit an eraser for ``traces`` on the fit split of ``probe_set``'s groups.

    Parameters
    ----------
    embedder : Embedder
        The base encoder's (cached) embedder.
    probe_set : ProbeSet
    traces : sequence of str
        Audits from :data:`ERASABLE`, erased in this order.
    source : mapping
        ``{"spec": ..., "canonical": ..., "fingerprint": ...}`` of the base encoder.
    seed : int
        The split seed (see :func:`split_groups`).
    fraction : float
        Share of each class's groups held out.
    options : mapping or None
        The project's audit tables by name (``{"camera": {...}}``, as in
        ``[tool.auditkit]``): the traces are labelled, and later compared,
        as the audits label them. Recorded in the eraser.
    per_class : bool
        Erase each trace within every semantic class of the probe set
        (:func:`concept_matrix`): rank up to classes x (settings - 1) instead
        of settings - 1. A trace that differs from class to class is then
        erased in each; one that does not is erased as before.
    stages : {"both", "raw", "normalised"}
        Which of the two stages to fit (:data:`STAGES`); the other is the
        identity. Both remove a trace that adds to the encoder's rows and
        then put the guarantee on the normalised rows, but change more
        directions; on EfficientNet-Lite0 with two traces they erased more
        and cost semantic accuracy that one stage kept (docs/mitigation.md).

    Raises
    ------
    ConfigError
        ``stages`` is not one of :data:`STAGES`; ``per_class`` with so many
        classes that a stage would take more than :data:`PER_CLASS_MAX_SHARE`
        of the embedding's dimensions.
    """
    traces = parse_traces(traces)
    stages = parse_stages(stages)
    fit_groups, held = split_groups(probe_set, seed, fraction)
    fit_set = _subset(probe_set, set(fit_groups), keep=True, why="eraser fit split")
    rows = {trace: trace_rows(trace, embedder, fit_set, _table_of(trace, options))
            for trace in traces}
    for trace in traces if per_class else ():
        _check_per_class_rank(trace, rows[trace], rows[trace].X.shape[1])
    dim = next(iter(rows.values())).X.shape[1]
    raw = (_fit_stage(rows, lambda X: X, per_class) if stages != "normalised"
           else Stage.identity(dim))
    normalised = (_fit_stage(rows, lambda X: l2_normalise(raw.apply(X)), per_class)
                  if stages != "raw" else Stage.identity(dim))
    counts = {trace: {"rows": len(r.y), "classes": len(set(r.y.tolist()))}
              for trace, r in rows.items()}
    meta = {
        "source": str(source.get("spec", "")),
        "source_canonical": str(source.get("canonical", "")),
        "source_fingerprint": str(source.get("fingerprint", "")),
        "traces": json.dumps(traces),
        "fitted_groups": json.dumps(fit_groups),
        "held_out_groups": json.dumps(held),
        "probe_set": probe_set.name,
        "probe_set_digest": probe_set.digest,
        "seed": str(seed),
        "held_out_fraction": str(fraction),
        "rows": json.dumps(counts),
        "options": json.dumps({k: dict(v) for k, v in (options or {}).items()}, sort_keys=True),
        # Every eraser takes the encoder's rows; "stages" and "method" say where it erases.
        "input": "the encoder's embeddings",
        "stages": stages,
        "method": ("LEACE (concept_erasure.LeaceFitter), traces erased in order"
                   + (", each within every semantic class" if per_class else "")
                   + {"both": ", on the embeddings and again on their L2-normalised rows",
                      "raw": ", on the embeddings only",
                      "normalised": ", on the L2-normalised rows only"}[stages]),
        "per_class": json.dumps(per_class),
        "versions": json.dumps(_versions()),
    }
    return Eraser(raw, normalised, meta)


def _fit_stage(rows: Mapping[str, TraceRows], view: Callable[[np.ndarray], np.ndarray],
               per_class: bool) -> Stage:
    """One stage: LEACE for each trace in turn, on ``view`` of its rows.

    Each step is linear, so it keeps the zero cross-covariance the steps
    before it reached, and the composition is one affine map.
    """
    M: np.ndarray | None = None
    c: np.ndarray | None = None
    for labelled in rows.values():
        X = view(np.asarray(labelled.X, dtype=np.float64))
        if M is None or c is None:
            M, c = np.eye(X.shape[1]), np.zeros(X.shape[1])
        A, b = _leace_step(X @ M + c, labelled.y,
                           labelled.labels if per_class else None)
        # x2 = x1 (I - A) + b A, composed with x1 = x M + c.
        keep = np.eye(len(b)) - A
        M, c = M @ keep, c @ keep + b @ A
    assert M is not None and c is not None  # parse_traces returns at least one
    return Stage.of(M, c)


def _check_per_class_rank(trace: str, rows: TraceRows, dim: int) -> None:
    assert rows.labels is not None
    k, v = len(set(rows.labels.tolist())), len(set(rows.y.tolist()))
    rank = k * (v - 1)
    if rank > PER_CLASS_MAX_SHARE * dim:
        raise ConfigError(
            f"erasing {trace} per class: {k} semantic classes x {v - 1} would take up to "
            f"{rank} of the embedding's {dim} dimensions in each stage of the eraser "
            f"(more than {PER_CLASS_MAX_SHARE:.0%}): erase it over all classes (no "
            "--per-class), or audit fewer classes")


# -- scoring --------------------------------------------------------------------------------


class ErasedEmbedder:
    """An :class:`~auditkit.extract.Embedder` that erases the base embedder's output.

    The base embeddings come through the base extractor and its cache, and
    the map is applied after, so a comparison embeds nothing twice.
    """

    def __init__(self, base: Embedder, eraser: Eraser) -> None:
        self.base = base
        self.eraser = eraser

    def embed(self, images: Sequence[Any], variants: Sequence[Variant]) -> EmbeddingTable:
        table = self.base.embed(images, variants)
        if len(table) == 0:
            return table
        return EmbeddingTable(self.eraser.apply(table.X), table.image_ids, table.labels,
                              table.groups, table.variant_ids)


def _refuse_overlap(eraser: Eraser | None, groups: np.ndarray) -> None:
    if eraser is None:
        return
    seen = eraser.fitted_groups & set(groups.tolist())
    if seen:
        raise ProbeSetError(
            f"{len(seen)} of the scored groups (e.g. {sorted(seen)[:3]!r}) were used to fit the "
            "eraser: score it on held-out groups only (erasure.held_out)")


def mlp_leakage(rows: TraceRows, seed: int = 0, eraser: Eraser | None = None) -> ProbeScore:
    """Grouped cross-validated leakage of a small MLP (one hidden layer of :data:`MLP_HIDDEN`).

    LEACE leaves no *linear* signal; a non-linear probe may still find the
    trace. Passing ``eraser`` checks that no row is in a group it was fitted on.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y, groups = np.asarray(rows.y, dtype=object), np.asarray(rows.groups, dtype=object)
    _refuse_overlap(eraser, groups)
    X = l2_normalise(np.asarray(rows.X, dtype=np.float64))
    folds = outer_folds(y, groups, seed=seed)
    pred = np.empty(len(y), dtype=object)
    for train, test in folds:
        model = make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(MLP_HIDDEN,), alpha=1e-2, solver="lbfgs", max_iter=MLP_EPOCHS,
            random_state=seed))
        with warnings.catch_warnings():
            # Where nothing is left to learn the loss never settles; the
            # out-of-fold score says what it found either way.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X[train], y[train].astype(str))
        pred[test] = model.predict(X[test])
    return score_predictions(y.astype(str), pred.astype(str), groups, seed=seed,
                             folds=fold_of(folds, len(y)))


# -- before and after -----------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured value with its 95 % interval."""

    value: float
    ci: tuple[float, float]

    @classmethod
    def leakage(cls, score: ProbeScore) -> Figure:
        return cls(score.leakage, score.leakage_ci)

    @classmethod
    def accuracy(cls, score: ProbeScore) -> Figure:
        return cls(score.accuracy, score.accuracy_ci)

    @classmethod
    def not_measured(cls) -> Figure:
        """A figure the held-out groups could not give (the row's note says why)."""
        return cls(float("nan"), (float("nan"), float("nan")))

    def text(self) -> str:
        if self.value != self.value:  # NaN: not measured
            return "not measured"
        return f"{self.value:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]"

    def json(self) -> dict[str, Any]:
        if self.value != self.value:
            return {"value": None, "ci": None}
        return {"value": self.value, "ci": list(self.ci)}


@dataclass(frozen=True)
class ComparisonRow:
    """One figure of the base and the erased encoder on the held-out groups."""

    name: str
    before: Figure
    after: Figure
    #: What the figure is, and how to read the change.
    note: str = ""
    #: The axis it is read on: ``leakage``, ``delta`` or ``accuracy``.
    metric: str = ""

    def json(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "before": self.before.json(),
                "after": self.after.json(), "note": self.note}


#: The audits re-run on the held-out groups beside the traces' own.
ALSO_AUDITED = ("retrieval_shift",)
#: The metric each re-run audit is read by.
_READ = {"retrieval_shift": "delta"}


def _table_of(audit: str, options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """Audit ``audit``'s table among the project's ``options`` (empty: stock)."""
    from auditkit.registry import get_audit

    table = get_audit(audit).config_table
    return dict((options or {}).get(table, {})) if table else {}


def _audit_figures(audit: str, embedder: Embedder, probe_set: ProbeSet, seed: int,
                   options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Figure]:
    from auditkit.context import AuditContext
    from auditkit.registry import get_audit

    ctx = AuditContext.of(audit, embedder, probe_set, seed=seed,
                          options=_table_of(audit, options))
    return {metric: Figure(m.value, (float(m.ci[0]), float(m.ci[1])))
            for metric, m in get_audit(audit).measure(ctx).items()}


def _semantic(embedder: Embedder, probe_set: ProbeSet, seed: int,
              options: Mapping[str, Mapping[str, Any]]) -> dict[str, Figure]:
    """Semantic utility: the ``semantic_utility`` audit's figures."""
    return _audit_figures(SEMANTIC_AUDIT, embedder, probe_set, seed, options)


def compare(base: Embedder, eraser: Eraser, probe_set: ProbeSet, seed: int = 0,
            audits: Sequence[str] = ALSO_AUDITED) -> list[ComparisonRow]:
    """Leakage, retrieval shift and semantic utility before and after erasure.

    Everything is measured on the groups of ``probe_set`` that ``eraser``
    never saw (:func:`held_out` refuses a set with none). Each trace gets
    its audit's linear-probe leakage and a small MLP's; ``audits`` (the
    retrieval shift by default) their first-listed metric.
    """
    held = held_out(probe_set, eraser)
    erased = ErasedEmbedder(base, eraser)
    both = (base, erased)
    # Measured with the options the eraser was fitted with: the classes erased are those audited.
    options = eraser.options
    rows = []
    for trace in eraser.traces:
        before, after = (_audit_figures(trace, e, held, seed, options)["leakage"] for e in both)
        rows.append(ComparisonRow(f"{trace} leakage (linear probe)", before, after,
                                  "what LEACE removes: expect an interval covering 0 after",
                                  "leakage"))
        table = _table_of(trace, options)
        before, after = (
            Figure.leakage(mlp_leakage(trace_rows(trace, e, held, table), seed, eraser))
            for e in both)
        rows.append(ComparisonRow(f"{trace} leakage (MLP probe)", before, after,
                                  "non-linear check: above 0 after means erased, not gone",
                                  "leakage"))
    for audit in audits:
        metric = _READ.get(audit, "leakage")
        try:
            before, after = (_audit_figures(audit, e, held, seed, options)[metric]
                             for e in both)
        except ProbeSetError as exc:
            # One audit the held-out half cannot carry (too few query groups) must not
            # cost the table the figures already measured.
            missing = Figure.not_measured()
            rows.append(ComparisonRow(f"{audit} {metric}", missing, missing,
                                      f"not measured on the held-out groups: {exc}", metric))
            continue
        rows.append(ComparisonRow(f"{audit} {metric}", before, after, "held-out groups", metric))
    semantic = [_semantic(e, held, seed, options) for e in both]
    for metric in semantic[0]:
        rows.append(ComparisonRow(f"semantic {metric}", semantic[0][metric], semantic[1][metric],
                                  "the probe set's own classes: what the embedding is for",
                                  "accuracy"))
    return rows


def mitigation_document(spec: str, eraser_path: str | Path, eraser: Eraser,
                        rows: Sequence[ComparisonRow], held: int) -> dict[str, Any]:
    """What ``auditkit mitigate`` writes as JSON and draws as its card, in one place."""
    import auditkit

    return {
        "encoder": spec, "erased_spec": f"{spec}+erase:{eraser_path}", "eraser": str(eraser_path),
        "traces": eraser.traces, "eraser_digest": eraser.digest, "rank": eraser.rank,
        "ranks": {name: getattr(eraser, name).rank for name in _STAGE_NAMES},
        "stages": eraser.metadata.get("stages", "both"),
        "per_class": eraser.metadata.get("per_class") == "true",
        "dim": eraser.dim, "fitted_groups": len(eraser.fitted_groups), "held_out_groups": held,
        "probe_set": eraser.metadata.get("probe_set", ""), "auditkit": auditkit.__version__,
        "rows": [r.json() for r in rows],
    }


def comparison_lines(rows: Sequence[ComparisonRow], eraser: Eraser, held: int) -> list[str]:
    """The before / after table as text."""
    width = max(len(r.name) for r in rows)
    out = [f"held-out groups: {held} (the eraser was fitted on {len(eraser.fitted_groups)} "
           "others); values with their 95 % intervals",
           f"  {'':<{width}}  {'before':<26}  {'after':<26}"]
    out += [f"  {r.name:<{width}}  {r.before.text():<26}  {r.after.text():<26}  {r.note}"
            for r in rows]
    return out
