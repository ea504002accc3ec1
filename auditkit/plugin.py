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
``inconclusive`` and ``not_applicable`` (the probe set lacks the audit's input:
no camera labels, one class) are skipped with the reason by default, or fail
under ``--audit-inconclusive=fail``. Every verdict is in ``results.json`` either way.

pytest loads the plugin in every run where auditkit is installed, so it stays
out of the way until a run is an audit run: it is given an auditkit option
(checked in ``pytest_configure``) or collects an audit test (the first one
builds the session in ``pytest_generate_tests``). Until then nothing is read
(``[tool.auditkit]`` included), built or imported beyond the option table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from auditkit.errors import AuditkitError
from auditkit.plugin_options import OPTIONS, given_options

# The rest of auditkit (numpy, torch) is imported inside the hooks that need
# it, once the run is an audit run (see above).
if TYPE_CHECKING:
    from auditkit.compare import Comparison
    from auditkit.data.base import ProbeSet
    from auditkit.encoders.base import Encoder
    from auditkit.extract import Extractor
    from auditkit.registry import Audit
    from auditkit.results import AuditResult
    from auditkit.session import AuditSession
    from auditkit.verdicts import Measurement, Outcome, Threshold

session_key = pytest.StashKey["AuditSession"]()
#: Why the session could not be built when the first audit test was collected.
_startup_error_key = pytest.StashKey[str]()
_cards_key = pytest.StashKey[dict[str, Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("auditkit", "auditing image encoders")
    for flag, keywords in OPTIONS:
        group.addoption(flag, **keywords)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """pytest-xdist: ``-n`` without ``--dist`` distributes by ``xdist_group`` (``loadgroup``).

    Runs before xdist turns ``-n`` into ``--dist=load``, which could send the
    threshold cases of one (encoder, audit) to two workers and measure it twice.
    """
    option = config.option
    if (getattr(option, "numprocesses", None) and getattr(option, "dist", None) == "no"
            and not getattr(option, "distload", False) and _audit_run(config)):
        option.dist = "loadgroup"
    return (yield)


def _audit_run(config: pytest.Config) -> bool:
    """An auditkit option given, or a ``[tool.auditkit]`` table at the root: only then
    does ``-n`` change its distribution, so other projects' ``-n`` runs keep theirs."""
    if given_options(vars(config.option)):
        return True
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads((config.rootpath / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # no readable pyproject: not an audit project's run
    tool = data.get("tool")
    return isinstance(tool, dict) and "auditkit" in tool


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's ``loadgroup``, with an audit's cases grouped by their node ids.

    xdist 3.8 puts a test's group in its node id, which pytest 9.2 no longer
    lets it change: the groups are read from the ids themselves instead.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from auditkit.scheduling import CaseGroupScheduling

    return CaseGroupScheduling(config, log)


def _case_group(config: pytest.Config, audit: str, spec: str) -> list[Any]:
    """An ``xdist_group`` mark per (encoder, audit): its threshold cases share a worker.

    None without pytest-xdist, where the mark is unknown. xdist appends the
    name to the node id after an ``@`` and reads it back from after the last
    one (unless a ``]`` follows it), so neither is left in the name.
    """
    if not config.pluginmanager.hasplugin("xdist"):
        return []
    name = f"auditkit:{audit}:{spec}".replace("@", "_").replace("]", "_")
    return [pytest.mark.xdist_group(name)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "audit(name): an auditkit audit test named NAME")
    if given_options(vars(config.option)):
        # An auditkit option makes this an audit run: a bad option, table or
        # baseline stops it here, before collection, as a usage error.
        try:
            _session(config)
        except AuditkitError as exc:
            error = exc
        else:
            return
        # Raised outside the except block, so that nothing rides along with the message.
        raise pytest.UsageError(str(error))


def _session(config: pytest.Config) -> AuditSession:
    """The run's session, built (and ``[tool.auditkit]`` read) on first need.

    Raises
    ------
    ConfigError
        A malformed ``[tool.auditkit]``, a bad option value or a broken baseline.
    SpecError, WeightsUnavailableError
        An encoder that cannot be built: unknown to its source, or weights
        that are neither on disk nor in the hub cache with the hub reachable.
    """
    session = config.stash.get(session_key, None)
    if session is None:
        from auditkit.baseline import check_baseline
        from auditkit.encoders.availability import check_available
        from auditkit.run_config import RunConfig

        worker = hasattr(config, "workerinput")
        run = RunConfig.resolve(vars(config.option), config.rootpath, worker=worker,
                                progress=config.option.capture == "no")
        # A broken or mismatched baseline stops the run before any work.
        check_baseline(run)
        check_available(run.specs.values())
        # Imported once the settings are known to be good: it loads torch.
        from auditkit.session import AuditSession

        session = AuditSession(run)
        if run.baseline is not None and not worker:
            # The probe set's digest needs the set: checked once, by the
            # controller. A probe set that cannot load is the cases' error.
            try:
                digest = session.probe_set().digest
            except Exception:
                digest = None
            if digest is not None:
                check_baseline(run, digest)
        config.stash[session_key] = session
    return session


def _audit_name(node: Any) -> str | None:
    marker = node.get_closest_marker("audit") if hasattr(node, "get_closest_marker") else None
    return str(marker.args[0]) if marker and marker.args else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    name = _audit_name(metafunc.definition)
    if name is None or "audit" not in metafunc.fixturenames:
        return
    from auditkit.config import audit_thresholds

    config = metafunc.config
    if _startup_error_key in config.stash:
        return  # said once, by pytest_make_collect_report
    try:
        session = _session(config)
    except AuditkitError as exc:
        # The first audit test collected builds the session. Raised here, a
        # UsageError would be a collection error with a traceback, repeated
        # for every audit module: it is kept and raised once the module's
        # report is out (pytest_make_collect_report), which ends the run with
        # pytest's usage-error status. An xdist worker reports a collection
        # error, which its controller shows and stops on.
        if hasattr(config, "workerinput"):
            raise pytest.Collector.CollectError(f"auditkit: {exc}") from None
        config.stash[_startup_error_key] = str(exc)
        return
    specs = session.run.all_specs
    metafunc.parametrize("encoder_spec", [
        pytest.param(spec, id=spec, marks=_case_group(metafunc.config, name, spec))
        for spec in specs], scope="session")
    thresholds = audit_thresholds(session.run.project, name)
    metafunc.parametrize("audit_threshold", thresholds, ids=[t.case for t in thresholds])


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """End the run with the usage error the first audit module's collection met (see above).

    Raised out here, past the collector's own error handling, it reaches
    pytest as a usage error: one ``ERROR:`` line and exit status 4.
    """
    report = yield
    error = collector.config.stash.get(_startup_error_key, None)
    if error is not None:
        raise pytest.UsageError(error)
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    """A table that names no audit is a usage error, once every audit is imported.

    Checked here and not at start-up: a project's own audit registers when
    its test module is imported, during collection.
    """
    session = config.stash.get(session_key, None)
    if session is None or not any(_audit_name(item) for item in items):
        return
    from auditkit.config import unknown_tables, unknown_threshold_tables

    unknown = [*unknown_threshold_tables(session.run.project),
               *unknown_tables(session.run.project)]
    if unknown:
        raise pytest.UsageError("\n".join(unknown))


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
        from auditkit.registry import get_audit

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
            error = exc
        self._fail(error)

    def _fail(self, error: AuditkitError) -> NoReturn:
        """Record ``error`` and fail the case with its message, said once.

        Called outside the ``except`` block: a failure raised inside it would
        carry the error as its context, and pytest would print the message
        again under "During handling of the above exception".
        """
        self._error(str(error))
        pytest.fail(f"{type(error).__name__}: {error}", pytrace=False)

    def _error(self, message: str) -> None:
        from auditkit.verdicts import error_result

        self._add(error_result(self.name, self.threshold.case, message, self._card()))

    def _card(self) -> str | None:
        from auditkit.registry import find_audit

        found = find_audit(self.name)
        return found.card if found is not None else None

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
        from auditkit.errors import NotApplicable
        from auditkit.verdicts import decide, not_applicable_result, to_result

        record = self.record
        failed: AuditkitError | None = None
        try:
            measurements = self.session.measure(self.spec, record, compute)
        except NotApplicable as exc:
            # Recorded like any verdict, then left to decide(): a skip with the
            # reason and the remedy, or a fail under --audit-inconclusive=fail.
            skipped = not_applicable_result(self.name, self.threshold.case, str(exc), record.card)
            self._add(skipped)
            _apply(decide(skipped, f"{self.name} {self.threshold.case} for {self.spec}: {exc}",
                          inconclusive=self.session.run.inconclusive))
        except AuditkitError as exc:
            failed = exc
        except Exception as exc:
            self._error(f"{type(exc).__name__}: {exc}")
            raise
        if failed is not None:
            self._fail(failed)
        m = measurements.get(self.threshold.metric)
        if m is None:
            self._error(f"audit {self.name!r} does not measure {self.threshold.metric!r}")
            pytest.fail(f"{self.threshold.case}: {self.name} has no {self.threshold.metric} metric",
                        pytrace=False)
        result = to_result(self.name, self.threshold, m, record.card)
        comparison = self._compare(result, own_compute=compute is not None)
        self._add(result)
        message = (f"{self.name} {self.threshold.case} for {self.spec}: {m.metric} "
                   f"{m.value:.3f} [{m.ci[0]:.3f}, {m.ci[1]:.3f}] — {result.details['reason']}")
        outcome = decide(result, message, reference=self.session.is_reference(self.spec),
                         comparison=comparison, inconclusive=self.session.run.inconclusive)
        _apply(outcome)

    def _compare(self, result: AuditResult, own_compute: bool = False) -> Comparison | None:
        """Compare with the base's same case (this run's or the baseline's) and note it."""
        from auditkit.baseline import comparable
        from auditkit.compare import compare_case

        run = self.session.run
        if run.base is not None:
            if self.session.is_reference(self.spec):
                return None
            comparison = compare_case(self._same_run_base(own_compute), result,
                                      run.base.tolerance)
            result.details["baseline"] = {**comparison.to_json(), "base_spec": run.base.spec}
            return comparison
        has_baseline, base = self.session.baseline_case(self.spec, self.name, result.case)
        baseline = run.baseline
        if not has_baseline or baseline is None:
            return None
        comparison = compare_case(base, result, baseline.tolerance)
        result.details["baseline"] = comparison.to_json()
        try:
            digest: str | None = self.session.probe_set().digest
        except Exception:  # the case already measured; a digest it lacks is not compared
            digest = None
        mismatches = baseline.mismatches(self.spec, self.session.is_reference(self.spec),
                                         comparable(run, digest))
        if mismatches:
            # Only reached under --audit-baseline-allow-mismatch (or an update):
            # the start-up check refuses these otherwise.
            result.details["baseline"]["mismatches"] = mismatches
        return comparison

    def _same_run_base(self, own_compute: bool) -> AuditResult | None:
        """The ``--audit-base`` encoder's result of this case, measured in this run.

        The measurement is the session's, memoised: the base's own test of
        this audit reuses it, and so does every other candidate.
        """
        from auditkit.verdicts import error_result, to_result

        assert self.session.run.base is not None
        spec = self.session.run.base.spec
        record = self.record
        if own_compute:
            # A compute of the test's own measures this case's encoder, not the base.
            return error_result(self.name, self.threshold.case,
                                f"the test passes its own compute, which cannot measure the "
                                f"base {spec}", record.card)
        try:
            measurements = self.session.measure(spec, record)
        except Exception as exc:  # the base's own case reports it in full
            return error_result(self.name, self.threshold.case,
                                f"the base {spec} could not be measured: {exc}", record.card)
        m = measurements.get(self.threshold.metric)
        return None if m is None else to_result(self.name, self.threshold, m, record.card)


def _apply(outcome: Outcome) -> None:
    """Tell pytest what :func:`~auditkit.verdicts.decide` made of a case (a pass returns)."""
    if outcome.kind == "fail":
        pytest.fail(outcome.message, pytrace=False)
    if outcome.kind == "xfail":
        pytest.xfail(outcome.message)
    if outcome.kind == "skip":
        pytest.skip(outcome.message)


@pytest.fixture(scope="session")
def audit_session(request: pytest.FixtureRequest) -> AuditSession:
    """The run's :class:`AuditSession` (encoders, caches, results)."""
    try:
        return _session(request.config)
    except AuditkitError as exc:
        error = exc
    raise pytest.UsageError(str(error))


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
    audit_session.close()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        # A pytest-xdist worker: the controller merges and writes the reports.
        from auditkit.workers import worker_payload

        workeroutput["auditkit"] = worker_payload(audit_session)
        return
    if not audit_session.run.write_reports:
        return
    from auditkit.documents import write_reports

    cards = write_reports(audit_session)
    session.config.stash[_cards_key] = cards


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; keep its results for the merged report."""
    payload = getattr(node, "workeroutput", {}).get("auditkit")
    if not payload:
        return
    from auditkit.workers import merge_worker_payload

    # The controller collects nothing itself: without an auditkit option its
    # session is first needed here, when a worker that ran audits reports.
    merge_worker_payload(_session(node.config), payload)


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
    terminalreporter.write_line(_references_line(audit_session.run.references))


def _references_line(references: tuple[str, ...]) -> str:
    """Which references ran beside the audited encoders, and how to change them.

    Examples
    --------
    >>> _references_line(("pixels",))
    'references: pixels (--audit-reference=SPEC replaces them, --audit-reference=none drops them)'
    >>> _references_line(())
    'references: none (--audit-reference=SPEC adds one)'
    """
    if not references:
        return "references: none (--audit-reference=SPEC adds one)"
    return (f"references: {', '.join(references)} (--audit-reference=SPEC replaces them, "
            "--audit-reference=none drops them)")
