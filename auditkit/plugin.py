"""The pytest plugin: options, fixtures, parametrisation, reports.

An audit test carries ``@pytest.mark.audit(NAME)`` and asks for the ``audit``
fixture; the plugin parametrises it over every ``--encoder`` and every
threshold of ``[tool.auditkit.thresholds.NAME]`` (ids like
``pixels-max_leakage=0.1``). At the end of the run each encoder gets
``<report-dir>/<slug>/results.json`` and ``card.html``.

Reference encoders (``--audit-reference``, e.g. the ``pixels`` baseline) run
with the others; their ``fail`` is an expected failure (xfail), since a
positive control exists to show that the trace is there to be found.

Outcomes: ``pass`` passes; ``fail`` fails; ``error`` (the audit could not be
measured: missing weights, unusable data, an exception) fails with the reason;
``inconclusive`` is skipped with the reason by default, or fails under
``--audit-inconclusive=fail``. Every verdict is in ``results.json`` either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditkit.baseline import Baseline
from auditkit.compare import Comparison, compare_case
from auditkit.config import audit_thresholds, baseline_tolerance, load_config
from auditkit.data.base import ProbeSet
from auditkit.encoders.base import Encoder
from auditkit.encoders.torch_encoder import AMP_DTYPES
from auditkit.errors import AuditkitError, ConfigError
from auditkit.extract import Extractor
from auditkit.session import AuditSession, SessionOptions
from auditkit.results import AuditResult
from auditkit.verdicts import Measurement, Threshold, error_result, to_result

session_key = pytest.StashKey[AuditSession]()
_cards_key = pytest.StashKey[dict[str, Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("auditkit", "auditing image encoders")
    group.addoption("--encoder", action="append", default=None, metavar="SPEC",
                    help="encoder to audit (repeatable); default: [tool.auditkit] encoders.")
    group.addoption("--audit-reference", action="append", default=None, metavar="SPEC",
                    help="reference encoder (repeatable), audited alongside; its failures are "
                         "expected (xfail); default without --encoder: [tool.auditkit] references.")
    group.addoption("--audit-data", default=None, metavar="PATH",
                    help="probe images: a folder or a CSV manifest; default: the built-in set.")
    group.addoption("--audit-report-dir", default="reports/out", metavar="DIR",
                    help="where results.json and card.html go, one folder per encoder.")
    group.addoption("--audit-cache-dir", default=None, metavar="DIR",
                    help="embedding cache directory; default: the user cache dir.")
    group.addoption("--audit-no-cache", action="store_true",
                    help="do not read or write the embedding cache on disk.")
    group.addoption("--audit-baseline", default=None, metavar="PATH",
                    help="results.json of the base model of the audited encoders, or a report "
                         "dir with one <slug>/results.json per encoder: a case fails when it "
                         "leaks more than the baseline beyond the tolerance.")
    group.addoption("--audit-baseline-tolerance", type=float, default=None, metavar="X",
                    help="allowed rise over the baseline (default: [tool.auditkit] "
                         "baseline_tolerance, else 0.05).")
    group.addoption("--audit-update-baseline", action="store_true",
                    help="write this run's results to --audit-baseline.")
    group.addoption("--audit-device", default=None, metavar="DEVICE",
                    help="torch device (cpu, cuda, cuda:1); default: cuda when available.")
    group.addoption("--audit-amp", choices=tuple(AMP_DTYPES), default="none",
                    help="autocast the forward pass of torch encoders (default: none). "
                         "Reduced-precision embeddings get their own cache entries.")
    group.addoption("--audit-seed", type=int, default=None, metavar="N",
                    help="seed of data, transforms, splits and random controls.")
    group.addoption("--audit-max-images", type=int, default=None, metavar="N",
                    help="use at most N source images (class-balanced).")
    group.addoption("--audit-workers", type=int, default=None, metavar="N",
                    help="DataLoader workers for decoding and preprocessing.")
    group.addoption("--audit-batch-size", type=int, default=None, metavar="N",
                    help="images per forward pass; default: the encoder's.")
    group.addoption("--audit-inconclusive", choices=("skip", "fail"), default="skip",
                    help="pytest outcome of an inconclusive case (default: skip).")
    group.addoption("--audit-template-dir", default=None, metavar="DIR",
                    help="templates overriding the stock card partials.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "audit(name): an auditkit audit test named NAME")
    cfg = load_config(config.rootpath)
    opt = config.option
    options = SessionOptions(
        encoders=list(opt.encoder or cfg["encoders"]),
        # Configured references join the default run; with --encoder, name them.
        references=list(opt.audit_reference if opt.audit_reference is not None
                        else [] if opt.encoder else cfg.get("references", [])),
        data=opt.audit_data,
        report_dir=Path(opt.audit_report_dir),
        cache_dir=Path(opt.audit_cache_dir) if opt.audit_cache_dir else None,
        use_cache=not opt.audit_no_cache,
        device=opt.audit_device,
        seed=opt.audit_seed if opt.audit_seed is not None else int(cfg.get("seed", 0)),
        max_images=opt.audit_max_images,
        workers=opt.audit_workers,
        batch_size=opt.audit_batch_size,
        inconclusive=opt.audit_inconclusive,
        template_dir=Path(opt.audit_template_dir) if opt.audit_template_dir else None,
        progress=opt.capture == "no",
        # xdist workers leave reports to the controller.
        write_reports=not hasattr(config, "workerinput"),
        baseline=_baseline(opt, cfg),
        update_baseline=bool(opt.audit_update_baseline),
        amp=opt.audit_amp,
    )
    session = AuditSession(options, cfg, config.rootpath)
    _check_baseline(session)
    config.stash[session_key] = session


def _baseline(opt: Any, cfg: dict[str, Any]) -> Baseline | None:
    if opt.audit_update_baseline and not opt.audit_baseline:
        raise pytest.UsageError("--audit-update-baseline needs --audit-baseline PATH")
    if not opt.audit_baseline:
        return None
    tolerance = opt.audit_baseline_tolerance
    if tolerance is None:
        tolerance = baseline_tolerance(cfg)
    elif tolerance < 0:
        raise pytest.UsageError(f"--audit-baseline-tolerance {tolerance}: expected >= 0")
    return Baseline(Path(opt.audit_baseline), tolerance)


def _check_baseline(session: AuditSession) -> None:
    """Read every baseline file now: a broken baseline stops the run before any work."""
    baseline = session.options.baseline
    if baseline is None:
        return
    audited = [s for s in session.options.all_specs if not session.is_reference(s)]
    if baseline.is_file and session.options.update_baseline and len(audited) > 1:
        raise pytest.UsageError(
            f"--audit-update-baseline with the file {str(baseline.path)!r} and "
            f"{len(audited)} audited encoders: give a directory so each gets its own"
        )
    for spec in session.options.all_specs:
        try:
            baseline.results_for(spec, session.is_reference(spec))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from exc


def _audit_name(node: Any) -> str | None:
    marker = node.get_closest_marker("audit") if hasattr(node, "get_closest_marker") else None
    return str(marker.args[0]) if marker and marker.args else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    name = _audit_name(metafunc.definition)
    if name is None or "audit" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[session_key]
    specs = session.options.all_specs
    metafunc.parametrize("encoder_spec", specs, ids=specs, scope="session")
    thresholds = audit_thresholds(session.config, name)
    metafunc.parametrize("audit_threshold", thresholds, ids=[t.case for t in thresholds])


@dataclass
class AuditCase:
    """What an audit test gets: its encoder, data and the ``check`` that judges it."""

    session: AuditSession
    name: str
    spec: str
    threshold: Threshold
    node: Any = None

    @property
    def seed(self) -> int:
        return self.session.options.seed

    @property
    def encoder(self) -> Encoder:
        return self._guard(lambda: self.session.encoder(self.spec))

    @property
    def extractor(self) -> Extractor:
        return self._guard(lambda: self.session.extractor(self.spec))

    @property
    def probe_set(self) -> ProbeSet:
        return self._guard(self.session.probe_set)

    def _guard(self, get: Callable[[], Any]) -> Any:
        try:
            return get()
        except AuditkitError as exc:
            self._error(str(exc))
            pytest.fail(f"{type(exc).__name__}: {exc}", pytrace=False)

    def _error(self, message: str) -> None:
        self._record(error_result(self.name, self.threshold.case, message))

    def _record(self, result: AuditResult) -> None:
        self.session.record(self.spec, result)
        if self.node is not None:
            # user_properties reach --junitxml as <property> elements of the test case.
            ci = result.ci or (None, None)
            self.node.user_properties.extend([
                ("auditkit.encoder", self.spec), ("auditkit.audit", result.audit),
                ("auditkit.case", result.case), ("auditkit.verdict", result.verdict),
                ("auditkit.metric", result.metric), ("auditkit.value", result.value),
                ("auditkit.ci_low", ci[0]), ("auditkit.ci_high", ci[1]),
                ("auditkit.chance", result.chance), ("auditkit.threshold", result.threshold),
                ("auditkit.n", result.n),
            ])

    def check(self, compute: Callable[[], dict[str, Measurement]]) -> None:
        """Measure (once per encoder and audit), judge against the threshold, record."""
        try:
            measurements = self.session.measure(self.spec, self.name, compute)
        except AuditkitError as exc:
            self._error(str(exc))
            pytest.fail(f"{type(exc).__name__}: {exc}", pytrace=False)
        except Exception as exc:
            self._error(f"{type(exc).__name__}: {exc}")
            raise
        m = measurements.get(self.threshold.metric)
        if m is None:
            self._error(f"audit {self.name!r} does not measure {self.threshold.metric!r}")
            pytest.fail(f"{self.threshold.case}: {self.name} has no {self.threshold.metric} metric",
                        pytrace=False)
        result = to_result(self.name, self.threshold, m)
        comparison = self._compare(result)
        self._record(result)
        message = (f"{self.name} {self.threshold.case} for {self.spec}: {m.metric} "
                   f"{m.value:.3f} [{m.ci[0]:.3f}, {m.ci[1]:.3f}] — {result.details['reason']}")
        if comparison is not None and comparison.outcome == "regression":
            pytest.fail(f"regression against the baseline: {message}; {comparison.reason}",
                        pytrace=False)
        if result.verdict == "fail":
            if self.session.is_reference(self.spec):
                # A positive control is there to show what can be found.
                pytest.xfail("reference encoder: " + message)
            if comparison is not None and comparison.base_verdict == "fail":
                # A gate judges what the candidate changed; the base's own
                # failures are known, and still on the card.
                pytest.xfail(f"fails in the baseline too, no regression: {message}; "
                             f"{comparison.reason}")
            pytest.fail(message, pytrace=False)
        if result.verdict == "inconclusive":
            if self.session.options.inconclusive == "fail":
                pytest.fail("inconclusive: " + message, pytrace=False)
            pytest.skip("inconclusive: " + message)


    def _compare(self, result: AuditResult) -> Comparison | None:
        """Compare with the baseline's same case and note it on the result."""
        has_baseline, base = self.session.baseline_case(self.spec, self.name, result.case)
        if not has_baseline:
            return None
        comparison = compare_case(base, result, self.session.options.baseline.tolerance)
        result.details["baseline"] = comparison.to_json()
        return comparison


@pytest.fixture(scope="session")
def audit_session(request: pytest.FixtureRequest) -> AuditSession:
    """The run's :class:`AuditSession` (encoders, caches, results)."""
    return request.config.stash[session_key]


@pytest.fixture
def audit(request: pytest.FixtureRequest, audit_session: AuditSession,
          encoder_spec: str, audit_threshold: Threshold) -> AuditCase:
    """The audit case of this test: encoder spec, threshold and ``check``."""
    name = _audit_name(request.node)
    if name is None:
        raise pytest.UsageError("the audit fixture needs @pytest.mark.audit(NAME) on the test")
    return AuditCase(audit_session, name, encoder_spec, audit_threshold, request.node)


def pytest_sessionfinish(session: pytest.Session) -> None:
    audit_session = session.config.stash.get(session_key, None)
    if audit_session is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        # A pytest-xdist worker: the controller merges and writes the reports.
        workeroutput["auditkit"] = audit_session.worker_payload()
        return
    if not audit_session.options.write_reports:
        return
    cards = audit_session.write_reports()
    session.config.stash[_cards_key] = cards


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; keep its results for the merged report."""
    payload = getattr(node, "workeroutput", {}).get("auditkit")
    audit_session = node.config.stash.get(session_key, None)
    if payload and audit_session is not None:
        audit_session.merge_worker_payload(payload)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    audit_session = config.stash.get(session_key, None)
    if audit_session is None:
        return
    if not audit_session.results:
        return
    from auditkit.summary import summary_lines

    cards = config.stash.get(_cards_key, {})
    terminalreporter.section("auditkit")
    for line in summary_lines(audit_session, cards):
        terminalreporter.write_line(line)
