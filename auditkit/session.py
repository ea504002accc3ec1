"""The audit session: one object per run that builds encoders, caches and probe sets once.

The plugin builds it from a resolved :class:`~auditkit.run_config.RunConfig`
on first need (an auditkit option given, or the first audit test collected)
and stores it in ``config.stash``;
fixtures are thin accessors to it. Everything expensive is built once and
kept in a typed store, including failures, so a missing checkpoint costs one
lookup and shows up as one clear error on every case that needed it.
Reports are written by :mod:`auditkit.documents`; pytest-xdist merging lives
in :mod:`auditkit.workers`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

from auditkit.allocator import retain_freed_memory
from auditkit.backends.decoded import DecodedImages
from auditkit.backends.local import LocalBackend
from auditkit.cache import EmbeddingCache, default_cache_dir
from auditkit.context import AuditContext
from auditkit.data import load_probe_set
from auditkit.data.base import ProbeSet
from auditkit.device import computing_on, pick_device, worker_device
from auditkit.encoders import LoadOptions, build_encoder
from auditkit.encoders.base import Encoder
from auditkit.encoders.torch_encoder import set_amp
from auditkit.extract import Extractor
from auditkit.memo import MeasurementMemo, measurement_key
from auditkit.numerics import measurement_environment
from auditkit.provenance import utc_timestamp
from auditkit.registry import Audit, get_audit
from auditkit.results import AuditResult
from auditkit.run_config import RunConfig
from auditkit.verdicts import Measurement

log = logging.getLogger("auditkit")

T = TypeVar("T")


class Once(Generic[T]):
    """A value built on first use and kept, failure included.

    A failure (an ``Exception``) is kept and raised again on every later
    use, so one broken input is one error, not one attempt per case; pytest
    outcomes and interrupts (``BaseException``) are not results and are not kept.
    """

    def __init__(self) -> None:
        self.built = False
        self.value: T | None = None
        self.error: Exception | None = None
        self._traceback: TracebackType | None = None

    def get(self, build: Callable[[], T]) -> T:
        if not self.built:
            try:
                self.value = build()
            except Exception as exc:
                self.error, self._traceback = exc, exc.__traceback__
            self.built = True
        if self.error is not None:
            # Raised with the traceback of the build: raising the kept object
            # as it is would add this call's frames to it, case after case.
            raise self.error.with_traceback(self._traceback)
        return self.value  # type: ignore[return-value]


@dataclass
class AuditSession:
    """State of one audit run."""

    run: RunConfig
    started: str = field(default_factory=utc_timestamp)
    results: dict[str, list[AuditResult]] = field(default_factory=dict)
    #: Audits whose measurements were read back from disk, per encoder.
    reused: dict[str, list[str]] = field(default_factory=dict)
    #: Encoder entries and provenance that pytest-xdist workers sent the controller.
    merged: dict[str, dict[str, Any]] = field(default_factory=dict)
    _encoders: dict[str, Once[Encoder]] = field(default_factory=dict, repr=False)
    _extractors: dict[str, Once[Extractor]] = field(default_factory=dict, repr=False)
    _measured: dict[tuple[str, str], Once[dict[str, Measurement]]] = field(
        default_factory=dict, repr=False)
    _probe_set: Once[ProbeSet] = field(default_factory=Once, repr=False)
    _cache: Once[EmbeddingCache] = field(default_factory=Once, repr=False)
    _memo: Once[MeasurementMemo] = field(default_factory=Once, repr=False)
    _decoded: Once[DecodedImages] = field(default_factory=Once, repr=False)

    def __post_init__(self) -> None:
        # Before the probe set, the models and the DataLoader workers (which inherit it).
        retain_freed_memory()

    @property
    def device(self) -> str:
        """The run's torch device: the encoders', the probe fits' and the k-NN's.

        Under pytest-xdist a bare ``cuda`` is one device per worker
        (:func:`~auditkit.device.worker_device`).
        """
        return worker_device(pick_device(self.run.device))

    # -- what the run builds, once each -----------------------------------------

    def encoder(self, spec: str) -> Encoder:
        def build() -> Encoder:
            parsed = self.run.specs.get(spec) or spec
            encoder = build_encoder(parsed, LoadOptions(seed=self.run.seed))
            if not set_amp(encoder, self.run.amp):
                log.warning("--audit-amp=%s does not apply to %s: it runs at its own "
                            "precision", self.run.amp, spec)
            if self.run.use_cache and not encoder.cacheable:
                log.warning("%s: embeddings and measurements are not stored: %s",
                            spec, encoder.unstorable_reason)
            return encoder.to(self.device)

        return self._encoders.setdefault(spec, Once()).get(build)

    def cache(self) -> EmbeddingCache | None:
        if not self.run.use_cache:
            return None
        return self._cache.get(lambda: EmbeddingCache(self.run.cache_dir or default_cache_dir()))

    def extractor(self, spec: str) -> Extractor:
        return self._extractors.setdefault(spec, Once()).get(
            lambda: Extractor(self.encoder(spec), cache=self.cache(), seed=self.run.seed,
                              **self._engine())
        )

    def _engine(self) -> dict[str, Any]:
        """The extractor's arguments that choose and configure its backend."""
        if self.run.engine == "ray":
            from auditkit.backends.ray_data import RayDataBackend

            return {"backend": RayDataBackend(self.run.batch_size, LoadOptions(seed=self.run.seed),
                                              amp=self.run.amp, progress=self.run.progress)}
        # One store of decoded images and variants for every encoder of the run.
        decoded = self._decoded.get(DecodedImages)
        return {"backend": LocalBackend(self.run.batch_size, self.run.workers,
                                        self.run.progress, decoded=decoded)}

    def close(self) -> None:
        """Stop what the extractors' backends started (workers, a local Ray instance)."""
        for once in self._extractors.values():
            # A test's own backend may have nothing to close.
            close = getattr(getattr(once.value, "backend", None), "close", None)
            if callable(close):
                close()

    def probe_set(self) -> ProbeSet:
        return self._probe_set.get(
            lambda: load_probe_set(self.run.data, seed=self.run.seed,
                                   max_images=self.run.max_images)
        )

    def audited_set(self, spec: str) -> ProbeSet:
        """The probe set ``spec``'s audits see: for ``SPEC+erase:PATH``, only the groups
        its eraser was not fitted on (:func:`auditkit.erasure.held_out`)."""
        from auditkit.encoders.spec import ERASE

        if ERASE not in spec:
            return self.probe_set()
        from auditkit.encoders.erased import ErasedEncoder
        from auditkit.erasure import held_out

        encoder = self.encoder(spec)
        assert isinstance(encoder, ErasedEncoder)  # build_encoder makes one of every +erase:
        return held_out(self.probe_set(), encoder.eraser)

    def memo(self) -> MeasurementMemo | None:
        cache = self.cache()
        return None if cache is None else self._memo.get(lambda: MeasurementMemo(cache.root))

    # -- what was built, for provenance (nothing is built by asking) -------------

    def built_encoder(self, spec: str) -> Encoder | None:
        """The encoder of ``spec`` if it was built, else None."""
        once = self._encoders.get(spec)
        return once.value if once is not None and once.error is None else None

    def encoder_error(self, spec: str) -> BaseException | None:
        once = self._encoders.get(spec)
        return once.error if once is not None else None

    def built_extractor(self, spec: str) -> Extractor | None:
        """The extractor of ``spec`` if it was built: a run whose measurements
        were all read back builds none."""
        once = self._extractors.get(spec)
        return once.value if once is not None and once.error is None else None

    # -- measuring ----------------------------------------------------------------

    def context(self, spec: str, audit: Audit) -> AuditContext:
        """The :class:`AuditContext` of ``audit`` for ``spec``."""
        return AuditContext(
            audit=audit.name,
            seed=self.run.split_seed,
            data_seed=self.run.seed,
            embedder_of=lambda: self.extractor(spec),
            probe_set_of=lambda: self.audited_set(spec),
            options=self.run.table(audit.config_table),
            root=self.run.root,
            device=self.device,
            max_images=self.run.max_images,
            measured_of=lambda name: self.measure(spec, get_audit(name)),
        )

    def measure(self, spec: str, audit: Audit,
                compute: Callable[[], dict[str, Measurement]] | None = None
                ) -> dict[str, Measurement]:
        """Measure ``audit`` for ``spec`` once; threshold cases share the result.

        ``compute`` replaces the record's ``measure(ctx)`` (tests written
        before the registry pass their own). With the disk cache on, a
        measurement of the same encoder, data, seeds, settings, audit inputs,
        environment and auditkit code is read back instead of recomputed.
        A ``compute`` of the test's own is never stored or read back: the
        key cannot see its arguments.
        """
        ctx = self.context(spec, audit)
        measure = compute or (lambda: audit.measure(ctx))

        def run() -> dict[str, Measurement]:
            # Probes and k-NN an audit builds without naming a device fit on the run's.
            with computing_on(self.device):
                return measure()

        def stored_or_computed() -> dict[str, Measurement]:
            memo = self.memo()
            if memo is None or not self.encoder(spec).cacheable:
                return run()
            if compute is not None:
                log.warning("%s of %s: the test passes its own compute to audit.check(), "
                            "whose arguments no cache key can see; measured afresh, not stored",
                            audit.name, spec)
                return run()
            encoder = self.encoder(spec)
            fingerprint = encoder.fingerprint
            inputs = dict(audit.inputs(ctx)) if audit.inputs is not None else {}
            key = measurement_key(fingerprint, audit.name, self.probe_set().digest,
                                  self.run.seed, self.run.project, inputs,
                                  measurement_environment(encoder.device),
                                  split_seed=self.run.split_seed)
            found = memo.get(fingerprint, key)
            if found is not None:
                self.reused.setdefault(spec, []).append(audit.name)
                return found
            measured = run()
            memo.put(fingerprint, key, measured)
            return measured

        return self._measured.setdefault((spec, audit.name), Once()).get(stored_or_computed)

    def record(self, spec: str, result: AuditResult) -> None:
        self.results.setdefault(spec, []).append(result)

    def is_reference(self, spec: str) -> bool:
        return self.run.is_reference(spec)

    def baseline_case(self, spec: str, audit: str, case: str) -> tuple[bool, AuditResult | None]:
        """``(has_baseline, baseline result of this case or None)`` for ``spec``."""
        baseline = self.run.baseline
        if baseline is None:
            return False, None
        results = baseline.results_for(spec, self.is_reference(spec))
        if results is None:
            return False, None
        match = [r for r in results if r.audit == audit and r.case == case]
        return True, (match[0] if match else None)
