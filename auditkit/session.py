"""The audit session: one object per pytest run that owns encoders, caches and results.

The plugin builds it in ``pytest_configure`` and stores it in ``config.stash``;
fixtures are thin accessors to it. Everything expensive is built once and
memoised, including failures, so a missing checkpoint costs one lookup and
shows up as one clear error on every case that needed it.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from auditkit.baseline import Baseline
from auditkit.cache import EmbeddingCache, default_cache_dir
from auditkit.data import load_probe_set
from auditkit.data.base import ProbeSet
from auditkit.encoders import LoadOptions, build_encoder
from auditkit.encoders.base import Encoder
from auditkit.encoders.torch_encoder import set_amp
from auditkit.extract import Extractor, pick_device
from auditkit.memo import MeasurementMemo, measurement_key
from auditkit.results import AuditResult, build_document, encoder_slug, write_json_atomic
from auditkit.verdicts import Measurement

log = logging.getLogger("auditkit")

PACKAGES = (
    "auditkit", "torch", "torchvision", "timm", "open_clip_torch", "scikit-learn",
    "numpy", "pillow", "jinja2",
)


@dataclass
class SessionOptions:
    """The pytest options of one run (see ``plugin.py`` for their help)."""

    encoders: list[str]
    references: list[str] = field(default_factory=list)
    data: str | None = None
    report_dir: Path = Path("reports/out")
    cache_dir: Path | None = None
    use_cache: bool = True
    device: str | None = None
    seed: int = 0
    max_images: int | None = None
    workers: int | None = None
    batch_size: int | None = None
    inconclusive: str = "skip"
    template_dir: Path | None = None
    progress: bool = False
    write_reports: bool = True
    baseline: Baseline | None = None
    update_baseline: bool = False
    amp: str = "none"


    @property
    def all_specs(self) -> list[str]:
        """Audited encoders, then references, each once."""
        return list(dict.fromkeys([*self.encoders, *self.references]))


@dataclass
class _Memo:
    value: Any = None
    error: BaseException | None = None


@dataclass
class AuditSession:
    """State of one audit run."""

    options: SessionOptions
    config: dict[str, Any]
    rootdir: Path
    started: str = field(default_factory=lambda: _now())
    results: dict[str, list[AuditResult]] = field(default_factory=dict)
    #: Audits whose measurements were read back from disk, per encoder.
    reused: dict[str, list[str]] = field(default_factory=dict)
    #: Encoder entries and provenance that pytest-xdist workers sent the controller.
    merged: dict[str, dict[str, Any]] = field(default_factory=dict)
    _memo: dict[Any, _Memo] = field(default_factory=dict)

    def _once(self, key: Any, build: Callable[[], Any]) -> Any:
        memo = self._memo.get(key)
        if memo is None:
            memo = self._memo[key] = _Memo()
            try:
                memo.value = build()
            except Exception as exc:
                memo.error = exc
            except BaseException:
                # pytest outcomes (fail/skip) and interrupts are not results to keep.
                del self._memo[key]
                raise
        if memo.error is not None:
            raise memo.error
        return memo.value

    @property
    def device(self) -> str:
        return pick_device(self.options.device)

    def encoder(self, spec: str) -> Encoder:
        def build() -> Encoder:
            encoder = build_encoder(spec, LoadOptions(seed=self.options.seed))
            if not set_amp(encoder, self.options.amp):
                log.warning("--audit-amp=%s does not apply to %s: it runs at its own "
                            "precision", self.options.amp, spec)
            return encoder.to(self.device)

        return self._once(("encoder", spec), build)

    def cache(self) -> EmbeddingCache | None:
        if not self.options.use_cache:
            return None
        return self._once("cache", lambda: EmbeddingCache(self.options.cache_dir or default_cache_dir()))

    def extractor(self, spec: str) -> Extractor:
        return self._once(
            ("extractor", spec),
            lambda: Extractor(
                self.encoder(spec),
                cache=self.cache(),
                batch_size=self.options.batch_size,
                num_workers=self.options.workers,
                seed=self.options.seed,
                progress=self.options.progress,
            ),
        )

    def probe_set(self) -> ProbeSet:
        return self._once(
            "probe_set",
            lambda: load_probe_set(
                self.options.data, seed=self.options.seed, max_images=self.options.max_images
            ),
        )

    def memo(self) -> MeasurementMemo | None:
        cache = self.cache()
        return None if cache is None else self._once("memo", lambda: MeasurementMemo(cache.root))

    def measure(self, spec: str, audit: str, compute: Callable[[], dict[str, Measurement]]) -> dict[str, Measurement]:
        """Measure ``audit`` for ``spec`` once; threshold cases share the result.

        With the disk cache on, a measurement of the same encoder, data, seed,
        settings and auditkit code is read back instead of recomputed.
        """

        def stored_or_computed() -> dict[str, Measurement]:
            memo = self.memo()
            if memo is None:
                return compute()
            fingerprint = self.encoder(spec).fingerprint
            key = measurement_key(fingerprint, audit, self.probe_set().digest,
                                  self.options.seed, self.config)
            found = memo.get(fingerprint, key)
            if found is not None:
                self.reused.setdefault(spec, []).append(audit)
                return found
            measured = compute()
            memo.put(fingerprint, key, measured)
            return measured

        return self._once(("measure", spec, audit), stored_or_computed)

    def record(self, spec: str, result: AuditResult) -> None:
        self.results.setdefault(spec, []).append(result)

    def is_reference(self, spec: str) -> bool:
        return spec in self.options.references

    def baseline_case(self, spec: str, audit: str, case: str) -> tuple[bool, AuditResult | None]:
        """``(has_baseline, baseline result of this case or None)`` for ``spec``."""
        baseline = self.options.baseline
        if baseline is None:
            return False, None
        results = baseline.results_for(spec, self.is_reference(spec))
        if results is None:
            return False, None
        match = [r for r in results if r.audit == audit and r.case == case]
        return True, (match[0] if match else None)

    def baseline_notes(self) -> list[str]:
        """What the terminal should say about the baseline of each encoder."""
        baseline = self.options.baseline
        if baseline is None:
            return []
        notes = []
        for spec in self.options.all_specs:
            path = baseline.path_for(spec, self.is_reference(spec))
            if path is None:
                continue
            if baseline.results_for(spec, self.is_reference(spec)) is None:
                verb = "wrote it now" if self.options.update_baseline else (
                    "cases were judged against their thresholds only; "
                    "--audit-update-baseline writes one")
                notes.append(f"no baseline yet for {spec} at {path}: {verb}")
            else:
                notes.append(f"{spec} compared with the baseline {path} "
                             f"(tolerance {baseline.tolerance:g})")
        return notes

    # -- outputs ----------------------------------------------------------------

    def provenance(self, spec: str) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.options.data or "builtin"}
        try:
            ps = self.probe_set()
            data.update(
                name=ps.name, hash=ps.digest, n_images=len(ps), classes=ps.class_counts(),
                skipped=ps.skipped_counts(),
                skipped_files=[{"path": s.path, "reason": s.reason} for s in ps.skipped[:200]],
            )
        except Exception as exc:  # noqa: BLE001 - the error is already a case result
            data["error"] = str(exc)
        # A run whose measurements were all read back builds no extractor at all.
        extract: dict[str, Any] = {"requested": 0, "memory_hits": 0, "disk_hits": 0,
                                   "computed": 0, "failed": []}
        memo = self._memo.get(("extractor", spec))
        if memo is not None and memo.value is not None:
            stats = memo.value.stats
            extract = {
                "requested": stats.requested, "memory_hits": stats.memory_hits,
                "disk_hits": stats.disk_hits, "computed": stats.computed,
                "failed": [{"image": i, "reason": r} for i, r in stats.failed[:200]],
            }
        return {
            "versions": _versions(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "git_commit": _git_commit(self.rootdir),
            "seed": self.options.seed,
            "data": data,
            "device": self.device,
            "precision": _precision(self._memo.get(("encoder", spec))),
            "extraction": extract,
            "measurements_reused": sorted(self.reused.get(spec, [])),
            "thresholds": self.config.get("thresholds", {}),
            "started": self.started,
            "finished": _now(),
        }

    def encoder_entry(self, spec: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "spec": spec, "fingerprint": None, "reference": spec in self.options.references,
        }
        memo = self._memo.get(("encoder", spec))
        if memo is not None and memo.value is not None:
            enc = memo.value
            entry.update(
                canonical=enc.spec, fingerprint=enc.fingerprint,
                weights_sha256=enc.weights_sha256, weights_source=enc.weights_source,
            )
        elif memo is not None:
            entry["error"] = str(memo.error)
        return entry

    def references_of(self, spec: str) -> dict[str, list[AuditResult]]:
        """Results of this run's reference rows for ``spec``'s card.

        The configured references (``pixels``) and, when it ran too, the
        ``random:`` control of the same architecture: together they show what
        is there to be found and how much of the leakage comes from training.
        """
        architecture = spec.split("@", 1)[0]  # a fine-tune's control is its base architecture's
        wanted = [*self.options.references, f"random:{architecture}"]
        return {ref: self.results[ref] for ref in wanted
                if ref != spec and ref in self.results}

    # -- pytest-xdist ------------------------------------------------------------

    def worker_payload(self) -> dict[str, Any]:
        """What a worker sends the controller at its end: JSON-able, nothing else."""
        return {
            spec: {
                "results": [r.to_json() for r in results],
                "encoder": self.encoder_entry(spec),
                "provenance": self.provenance(spec),
            }
            for spec, results in self.results.items()
        }

    def merge_worker_payload(self, payload: dict[str, Any]) -> None:
        """Fold one worker's results into this (controller) session."""
        for spec, part in payload.items():
            self.results.setdefault(spec, []).extend(
                AuditResult.from_json(r) for r in part["results"])
            # Worker order depends on scheduling; a fixed order makes -n runs comparable.
            self.results[spec].sort(key=lambda r: (r.audit, r.case))
            mine = self.merged.setdefault(spec, {})
            if "encoder" not in mine or mine["encoder"].get("fingerprint") is None:
                mine["encoder"] = part["encoder"]
            mine["provenance"] = _merge_provenance(mine.get("provenance"), part["provenance"])

    def write_reports(self) -> dict[str, Path]:
        """Write ``results.json`` and ``card.html`` per encoder; returns the card paths."""
        from auditkit.report import write_card, write_index

        cards, entries = {}, []
        for spec, results in self.results.items():
            out = self.options.report_dir / encoder_slug(spec)
            merged = self.merged.get(spec, {})
            doc = build_document(merged.get("encoder") or self.encoder_entry(spec),
                                 merged.get("provenance") or self.provenance(spec), results,
                                 self.references_of(spec))
            write_json_atomic(out / "results.json", doc)
            if self.options.update_baseline and self.options.baseline is not None:
                self.options.baseline.write(spec, self.is_reference(spec), doc)
            try:
                cards[spec] = write_card(doc, out, self.options.template_dir)
                entries.append((doc, cards[spec]))
            except Exception as exc:  # noqa: BLE001 - results.json is already safe
                log.error("card for %s could not be rendered: %s", spec, exc)
        if entries:
            try:
                write_index(self.options.report_dir, entries, self.options.template_dir)
            except Exception as exc:  # noqa: BLE001 - the cards are already written
                log.error("index could not be rendered: %s", exc)
        return cards


def _precision(memo: _Memo | None) -> str:
    encoder = memo.value if memo is not None else None
    return (encoder.precision if encoder is not None else None) or "float32"


def _merge_provenance(mine: dict[str, Any] | None, theirs: dict[str, Any]) -> dict[str, Any]:
    """One provenance for several workers: first start, last finish, summed extraction."""
    if not mine:
        return dict(theirs)
    out = dict(mine)
    out["started"] = min(mine.get("started") or "", theirs.get("started") or "") or None
    out["finished"] = max(mine.get("finished") or "", theirs.get("finished") or "") or None
    a, b = mine.get("extraction") or {}, theirs.get("extraction") or {}
    extraction = {k: a.get(k, 0) + b.get(k, 0)
                  for k in ("requested", "memory_hits", "disk_hits", "computed")
                  if k in a or k in b}
    extraction["failed"] = (a.get("failed") or []) + (b.get("failed") or [])
    out["extraction"] = extraction
    out["measurements_reused"] = sorted({*(mine.get("measurements_reused") or []),
                                         *(theirs.get("measurements_reused") or [])})
    out["workers"] = (mine.get("workers") or 1) + 1
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None
