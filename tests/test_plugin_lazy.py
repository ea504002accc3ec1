"""The plugin stays out of runs that are not audits: nothing read, built or imported."""

import json
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import timm

from auditkit.plugin_options import OPTIONS, given_options

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.list_models("resnet*")

STOCK = Path(__file__).resolve().parents[1] / "audits" / "test_jpeg_quality.py"

BROKEN = """
[tool.auditkit]
encoders = []
"""

# Records, once collection is over, what the run had imported by then.
PROBE = '''
import json, sys

def pytest_collection_finish(session):
    seen = {name: name in sys.modules for name in ("torch", "numpy", "auditkit.plugin")}
    with open("modules.json", "w") as f:
        json.dump(seen, f)
'''

# An audit whose measurement is a constant: the run costs no data or model.
CONSTANT_AUDIT = '''
from auditkit import Measurement, register_audit

@register_audit("constant_audit", thresholds={"max_leakage": [0.5]})
def measure(ctx):
    return {"leakage": Measurement("leakage", 0.0, (0.0, 0.0), None, 10)}
'''

CONSTANT_TEST = '''
import pytest

@pytest.mark.audit("constant_audit")
def test_constant(audit):
    audit.check()
'''


def _plugin_args() -> list[str]:
    """Load the plugin in a subprocess as an installed one would be (see the root conftest)."""
    installed = any(ep.value == "auditkit.plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "auditkit.plugin"]


def test_a_broken_table_leaves_a_project_without_audits_untouched(pytester):
    pytester.makefile(".toml", pyproject=BROKEN)
    pytester.makeconftest(PROBE)
    pytester.makepyfile(test_mine="def test_mine():\n    assert 1 + 1 == 2\n")
    # A subprocess: an in-process run would share this process's sys.modules.
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", *_plugin_args())
    run.assert_outcomes(passed=1)
    assert run.ret == pytest.ExitCode.OK
    assert "tool.auditkit" not in run.stdout.str() + run.stderr.str()
    seen = json.loads((pytester.path / "modules.json").read_text())
    assert seen["auditkit.plugin"], "the plugin was not loaded: the check would prove nothing"
    assert not seen["torch"] and not seen["numpy"]


def test_an_auditkit_option_still_reads_the_table(pytester):
    pytester.makefile(".toml", pyproject=BROKEN)
    pytester.makepyfile(test_mine="def test_mine():\n    pass\n")
    run = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--audit-seed=1")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["*encoders = []*expected a non-empty list of encoder specs*"])


def test_a_broken_table_still_stops_a_project_with_audits(pytester):
    pytester.makefile(".toml", pyproject=BROKEN)
    pytester.makepyfile(**{"audits/test_jpeg_quality": STOCK.read_text(),
                           "test_mine": "def test_mine():\n    pass\n"})
    run = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    # The first audit test collected reads the table: one usage error stops the run.
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["ERROR: *encoders = []*expected a non-empty list*"])
    assert run.stderr.str().count("ERROR:") == 1
    assert " passed" not in run.stdout.str()
    assert "Traceback" not in run.stdout.str() + run.stderr.str()


def test_xdist_controller_without_options_writes_the_workers_results(pytester, monkeypatch,
                                                                    tmp_path):
    # The controller collects nothing: its session is built from the workers' payloads.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["pixels"]
        references = []
    """))
    pytester.makeconftest(CONSTANT_AUDIT)
    pytester.makepyfile(test_constant=CONSTANT_TEST)
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-p", "xdist",
                                        *_plugin_args())
    run.assert_outcomes(passed=1)
    doc = json.loads((pytester.path / "reports" / "out" / "pixels" / "results.json").read_text())
    assert [(c["audit"], c["verdict"]) for c in doc["audits"]] == [("constant_audit", "pass")]
    run.stdout.fnmatch_lines(["*card: reports*out*pixels*card.html*"])


def test_only_options_off_their_defaults_count_as_given():
    defaults = {flag.removeprefix("--").replace("-", "_"): keywords["default"]
                for flag, keywords in OPTIONS}
    assert given_options(defaults) == []
    assert given_options({**defaults, "audit_no_cache": True}) == ["--audit-no-cache"]
    assert given_options({**defaults, "encoder": ["pixels"], "audit_amp": "bf16"}) == [
        "--encoder", "--audit-amp"]


DIST_PROBE = '''
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return  # the controller's choice; workers run with their own
    with open("dist.txt", "w") as f:
        f.write(str(config.option.dist))
'''


@pytest.mark.parametrize(("pyproject", "dist"), [
    ("[tool.black]\nline-length = 99\n", "load"),
    ("[tool.auditkit]\nseed = 0\n", "loadgroup"),
], ids=["another project keeps load", "an audit project groups"])
def test_n_changes_the_distribution_only_of_audit_projects(pytester, pyproject, dist):
    pytester.makefile(".toml", pyproject=pyproject)
    pytester.makeconftest(DIST_PROBE)
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(*_plugin_args(), "-p", "xdist", "-n", "1",
                                           "-p", "no:cacheprovider")
    assert result.ret == 0
    assert (pytester.path / "dist.txt").read_text() == dist
