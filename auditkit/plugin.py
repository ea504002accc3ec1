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

from auditkit.compare import Comparison, compare_case
from auditkit.config import audit_thresholds
from auditkit.data.base import ProbeSet
from auditkit.documents import write_reports
from auditkit.encoders.base import Encoder
from auditkit.errors import AuditkitError, ConfigError
from auditkit.extract import Extractor
from auditkit.registry import Audit, get_audit
from auditkit.results import AuditResult
from auditkit.run_config import AMP_CHOICES, RunConfig
from auditkit.session import AuditSession
from auditkit.verdicts import Measurement, Threshold, decide, error_result, to_result
from auditkit.workers import merge_worker_payload, worker_payload

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
    group.addoption("--audit-amp", choices=AMP_CHOICES, default="none",
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
    try:
        run = RunConfig.resolve(vars(config.option), config.rootpath,
                                worker=hasattr(config, "workerinput"),
                                progress=config.option.capture == "no")
        _check_baseline(run)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[session_key] = AuditSession(run)


def _check_baseline(run: RunConfig) -> None:
    """Read every baseline file now: a broken baseline stops the run before any work."""
    baseline = run.baseline
    if baseline is None:
        return
    audited = [s for s in run.all_specs if not run.is_reference(s)]
    if baseline.is_file and run.update_baseline and len(audited) > 1:
        raise ConfigError(
            f"--audit-update-baseline with the file {str(baseline.path)!r} and "
            f"{len(audited)} audited encoders: give a directory so each gets its own"
        )
    for spec in run.all_specs:
        baseline.results_for(spec, run.is_reference(spec))


def _audit_name(node: Any) -> str | None:
    marker = node.get_closest_marker("audit") if hasattr(node, "get_closest_marker") else None
    return str(marker.args[0]) if marker and marker.args else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    name = _audit_name(metafunc.definition)
    if name is None or "audit" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[session_key]
    specs = session.run.all_specs
    metafunc.parametrize("encoder_spec", specs, ids=specs, scope="session")
    thresholds = audit_thresholds(session.run.project, name)
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
        return self.session.run.seed

    @property
    def record(self) -> Audit:
        """The audit's registry record."""
        return self._guard(lambda: get_audit(self.name))

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
        self._add(error_result(self.name, self.threshold.case, message, self._card()))

    def _card(self) -> str | None:
        try:
            return get_audit(self.name).card
        except AuditkitError:
            return None

    def _add(self, result: AuditResult) -> None:
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

    def check(self, compute: Callable[[], dict[str, Measurement]] | None = None) -> None:
        """Measure (once per encoder and audit), judge against the threshold, record.

        The measurement is the registry record's ``measure(ctx)``; ``compute``
        replaces it, for audit tests written before the registry.
        """
        record = self.record
        try:
            measurements = self.session.measure(self.spec, record, compute)
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
        result = to_result(self.name, self.threshold, m, record.card)
        comparison = self._compare(result)
        self._add(result)
        message = (f"{self.name} {self.threshold.case} for {self.spec}: {m.metric} "
                   f"{m.value:.3f} [{m.ci[0]:.3f}, {m.ci[1]:.3f}] — {result.details['reason']}")
        outcome = decide(result, message, reference=self.session.is_reference(self.spec),
                         comparison=comparison, inconclusive=self.session.run.inconclusive)
        if outcome.kind == "fail":
            pytest.fail(outcome.message, pytrace=False)
        if outcome.kind == "xfail":
            pytest.xfail(outcome.message)
        if outcome.kind == "skip":
            pytest.skip(outcome.message)

    def _compare(self, result: AuditResult) -> Comparison | None:
        """Compare with the baseline's same case and note it on the result."""
        has_baseline, base = self.session.baseline_case(self.spec, self.name, result.case)
        baseline = self.session.run.baseline
        if not has_baseline or baseline is None:
            return None
        comparison = compare_case(base, result, baseline.tolerance)
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
        workeroutput["auditkit"] = worker_payload(audit_session)
        return
    if not audit_session.run.write_reports:
        return
    cards = write_reports(audit_session)
    session.config.stash[_cards_key] = cards


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; keep its results for the merged report."""
    payload = getattr(node, "workeroutput", {}).get("auditkit")
    audit_session = node.config.stash.get(session_key, None)
    if payload and audit_session is not None:
        merge_worker_payload(audit_session, payload)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    audit_session = config.stash.get(session_key, None)
    if audit_session is None:
        return
    if not audit_session.results:
        return
    from auditkit.terminal import summary_lines

    cards = config.stash.get(_cards_key, {})
    terminalreporter.section("auditkit")
    for line in summary_lines(audit_session, cards):
        terminalreporter.write_line(line)
