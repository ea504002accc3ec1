"""End-to-end runs of the plugin with pytester (the built-in set, cut small)."""

import json
import textwrap
from pathlib import Path

import pytest
import timm

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.list_models("resnet*")
timm.is_model("resnet18")

STOCK = Path(__file__).resolve().parents[1] / "audits" / "test_jpeg_quality.py"

ENCODERS = '''
import numpy as np

class Constant:
    fingerprint = "constant-v1"
    def embed(self, images):
        return np.ones((len(images), 8), dtype=np.float32)

class Noise:
    """Features independent of the image: a null encoder."""
    fingerprint = "noise-v1"
    def __init__(self):
        self.rng = np.random.default_rng(0)
    def embed(self, images):
        return self.rng.normal(size=(len(images), 16)).astype(np.float32)

def constant():
    return Constant()

def noise():
    return Noise()
'''


@pytest.fixture
def project(pytester, tmp_path):
    pytester.makepyfile(**{"audits/test_jpeg_quality": STOCK.read_text()})
    pytester.makepyfile(planted=ENCODERS)
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["pixels"]
        [tool.auditkit.thresholds.jpeg_quality]
        max_leakage = [0.1, 0.3]
    """))
    pytester.syspathinsert()
    cache = tmp_path / "cache"
    return lambda *args: pytester.runpytest_inprocess(
        "audits", "-p", "no:cacheprovider", "--audit-max-images=36",
        f"--audit-cache-dir={cache}", "--audit-report-dir=out", *args,
    )


def _results(pytester, slug):
    return json.loads((pytester.path / "out" / slug / "results.json").read_text())


def test_leaking_encoder_fails_with_cases_in_ids_and_writes_reports(project, pytester, tmp_path):
    run = project("--encoder=pixels", "-v")
    run.assert_outcomes(failed=2)
    run.stdout.fnmatch_lines([
        "*test_jpeg_quality*pixels-max_leakage=0.1* FAILED*",
        "*test_jpeg_quality*pixels-max_leakage=0.3* FAILED*",
        "*jpeg_quality*max_leakage=0.1*FAIL*",
        "*card: out*pixels*card.html*",
    ])
    doc = _results(pytester, "pixels")
    assert doc["schema_version"] == 1 and doc["encoder"]["fingerprint"]
    cases = doc["audits"]
    assert [c["case"] for c in cases] == ["max_leakage=0.1", "max_leakage=0.3"]
    assert all(c["verdict"] == "fail" and c["ci"][0] > 0.5 for c in cases)
    assert cases[0]["chance"] == pytest.approx(1 / 6)
    assert cases[0]["n"] == 36 * 6
    assert (pytester.path / "out" / "pixels" / "card.html").stat().st_size > 1000
    extraction = doc["provenance"]["extraction"]
    assert extraction["computed"] == 36 * 6

    again = project("--encoder=pixels")
    again.assert_outcomes(failed=2)
    redo = _results(pytester, "pixels")["provenance"]
    # Same encoder, data, seed and code: the measurement itself is read back.
    assert redo["measurements_reused"] == ["jpeg_quality"]
    assert redo["extraction"]["computed"] == 0
    assert _results(pytester, "pixels")["audits"][0]["value"] == cases[0]["value"]

    # Without the stored measurement, the embeddings still come from the disk cache.
    stored = list((tmp_path / "cache").rglob("measurements/*.json"))
    assert len(stored) == 1
    stored[0].unlink()
    third = project("--encoder=pixels")
    third.assert_outcomes(failed=2)
    redo = _results(pytester, "pixels")["provenance"]
    assert redo["measurements_reused"] == []
    assert redo["extraction"]["computed"] == 0 and redo["extraction"]["disk_hits"] == 36 * 6
    assert _results(pytester, "pixels")["audits"][0]["value"] == cases[0]["value"]


def test_null_encoder_passes_and_constant_is_inconclusive(project, pytester):
    run = project("--encoder=python:planted:noise", "--encoder=python:planted:constant",
                  "--audit-no-cache")
    run.assert_outcomes(passed=2, skipped=2)
    noise = _results(pytester, "python_planted_noise")["audits"]
    assert {c["verdict"] for c in noise} == {"pass"}
    assert noise[0]["ci"][0] <= 0.0 <= noise[0]["ci"][1] + 0.05
    const = _results(pytester, "python_planted_constant")["audits"]
    assert {c["verdict"] for c in const} == {"inconclusive"}
    assert const[0]["details"]["degenerate"] is True
    assert "degenerate" in const[0]["details"]["reason"]


def test_metrics_reach_junit_xml_as_properties(project, pytester):
    import xml.etree.ElementTree as ET

    project("--encoder=python:planted:noise", "--audit-no-cache", "--junitxml=junit.xml")
    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    props = [{p.get("name"): p.get("value") for p in tc.iter("property")} for tc in cases]
    assert len(props) == 2
    for p in props:
        assert p["auditkit.audit"] == "jpeg_quality" and p["auditkit.verdict"] == "pass"
        low, high = float(p["auditkit.ci_low"]), float(p["auditkit.ci_high"])
        assert low <= float(p["auditkit.value"]) <= high
    assert {p["auditkit.case"] for p in props} == {"max_leakage=0.1", "max_leakage=0.3"}


def test_inconclusive_can_be_made_to_fail(project):
    run = project("--encoder=python:planted:constant", "--audit-inconclusive=fail",
                  "--audit-no-cache")
    run.assert_outcomes(failed=2)


def test_reference_encoder_failures_are_expected(project, pytester):
    run = project("--encoder=python:planted:noise", "--audit-reference=pixels",
                  "--audit-no-cache")
    run.assert_outcomes(passed=2, xfailed=2)
    assert _results(pytester, "pixels")["encoder"]["reference"] is True
    index = (pytester.path / "out" / "index.html").read_text()
    for slug in ("pixels", "python_planted_noise"):
        assert f'href="{slug}/card.html"' in index
    run.stdout.fnmatch_lines(["*index: out*index.html*"])


def test_bad_spec_is_a_usage_error_with_close_matches_not_a_pass(project, pytester):
    run = project("--encoder=timm:resnt18")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["ERROR: timm has no model 'resnt18'*Did you mean: resnet18*"])
    assert not (pytester.path / "out").exists()
    assert "Traceback" not in run.stdout.str() + run.stderr.str()


def test_default_encoders_come_from_pyproject(project, pytester):
    run = project("--collect-only", "-q")
    run.stdout.fnmatch_lines(["*pixels-max_leakage=0.1*", "*pixels-max_leakage=0.3*"])


def test_user_folder_with_a_bad_file_runs_on_and_records_the_skip(project, pytester):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        folder = pytester.path / "data" / label
        folder.mkdir(parents=True)
        for i in range(8):
            arr = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(arr).save(folder / f"{i}.png")
    (pytester.path / "data" / "cats" / "broken.jpg").write_bytes(b"not a jpeg at all")
    run = project("--encoder=pixels", "--audit-data=data")
    run.assert_outcomes(failed=2)
    data = _results(pytester, "pixels")["provenance"]["data"]
    assert data["n_images"] == 16
    assert data["classes"] == {"cats": 8, "dogs": 8}
    assert any("broken.jpg" in s["path"] for s in data["skipped_files"])
    assert sum(data["skipped"].values()) == 1


def test_xdist_controller_writes_one_merged_result_equal_to_serial(project, pytester):
    serial = project("--encoder=python:planted:noise", "--encoder=pixels", "--audit-no-cache")
    serial.assert_outcomes(passed=2, failed=2)
    expected = {slug: _results(pytester, slug) for slug in ("pixels", "python_planted_noise")}
    run = project("--encoder=python:planted:noise", "--encoder=pixels", "--audit-no-cache",
                  "-n", "2", "-p", "xdist")
    run.assert_outcomes(passed=2, failed=2)
    run.stdout.fnmatch_lines(["*card: out*pixels*card.html*", "*index: out*index.html*"])
    for slug, want in expected.items():
        got = _results(pytester, slug)
        assert got["encoder"]["fingerprint"] == want["encoder"]["fingerprint"]
        key = lambda c: (c["audit"], c["case"])  # noqa: E731
        pairs = zip(sorted(got["audits"], key=key), sorted(want["audits"], key=key), strict=True)
        for g, w in pairs:
            assert (g["case"], g["verdict"], g["n"]) == (w["case"], w["verdict"], w["n"])
            assert g["value"] == pytest.approx(w["value"]) and g["ci"] == pytest.approx(w["ci"])
    # Each worker that ran a pixels case embedded the set once (no disk cache here).
    extraction = _results(pytester, "pixels")["provenance"]["extraction"]
    assert extraction["computed"] in (36 * 6, 2 * 36 * 6)


def test_baseline_gate_catches_a_leakier_candidate(project, pytester):
    first = project("--encoder=python:planted:noise", "--audit-no-cache",
                    "--audit-baseline=base.json", "--audit-update-baseline")
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*no baseline yet for python:planted:noise at base.json*"])
    assert (pytester.path / "base.json").is_file()

    same = project("--encoder=python:planted:noise", "--audit-no-cache",
                   "--audit-baseline=base.json")
    same.assert_outcomes(passed=2)
    case = _results(pytester, "python_planted_noise")["audits"][0]
    assert case["details"]["baseline"]["outcome"] == "ok"
    assert case["details"]["baseline"]["change"] == pytest.approx(0.0)

    # A .json baseline is the base of its encoder's architecture, not of any spec.
    other = project("--encoder=pixels", "--audit-baseline=base.json")
    assert other.ret == pytest.ExitCode.USAGE_ERROR
    other.stderr.fnmatch_lines(["*base.json*'python:planted:noise' is not a base of 'pixels'*"
                                "--audit-baseline-allow-mismatch*"])

    leaky = project("--encoder=pixels", "--audit-baseline=base.json",
                    "--audit-baseline-allow-mismatch")
    leaky.assert_outcomes(failed=2)
    leaky.stdout.fnmatch_lines(["*regression against the baseline*beyond the tolerance 0.05*",
                                "*WARNING: pixels's baseline was not made like this run*"])
    cases = _results(pytester, "pixels")["audits"]
    assert {c["details"]["baseline"]["outcome"] for c in cases} == {"regression"}
    assert all("is not a base of 'pixels'" in c["details"]["baseline"]["mismatches"][0]
               for c in cases)


def test_failures_the_baseline_shares_are_expected_not_new(project, pytester):
    project("--encoder=pixels", "--audit-baseline=base", "--audit-update-baseline")
    assert (pytester.path / "base" / "pixels" / "results.json").is_file()
    again = project("--encoder=pixels", "--audit-baseline=base")
    again.assert_outcomes(xfailed=2)
    again.stdout.fnmatch_lines(["*pixels compared with the baseline base*pixels*"])


def test_a_baseline_made_on_other_images_is_a_usage_error_unless_allowed(project, pytester):
    # The cache is on throughout, with an encoder whose embeddings are a function of
    # the image (the null fixture draws from one stream, so a cached copy would
    # repeat vectors): a warm store must neither hide a mismatch nor invent one.
    made = project("--encoder=python:planted:constant", "--audit-max-images=24",
                   "--audit-baseline=base", "--audit-update-baseline")
    assert made.ret == pytest.ExitCode.OK  # degenerate: inconclusive, skipped
    comparable = _results(pytester, "python_planted_constant")["provenance"]["comparable"]
    assert comparable["max_images"] == 24 and comparable["probe_set"]

    run = project("--encoder=python:planted:constant", "--audit-baseline=base")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["*max_images: baseline 24, this run 36*"
                              "--audit-baseline-allow-mismatch*"])

    allowed = project("--encoder=python:planted:constant",
                      "--audit-baseline=base", "--audit-baseline-allow-mismatch")
    assert allowed.ret == pytest.ExitCode.OK
    allowed.stdout.fnmatch_lines(["*WARNING*baseline was not made like this run*"
                                  "max_images: baseline 24, this run 36*"])
    for case in _results(pytester, "python_planted_constant")["audits"]:
        mismatches = case["details"]["baseline"]["mismatches"]
        assert "max_images: baseline 24, this run 36" in mismatches
        assert any(m.startswith("probe_set: baseline ") for m in mismatches)
    card = (pytester.path / "out" / "python_planted_constant" / "card.html").read_text()
    assert "baseline not made like this run, compared anyway" in card
    assert "max_images: baseline 24, this run 36" in card

    # Made like the baseline, warm: read back from the store, compared, no mismatch.
    same = project("--encoder=python:planted:constant", "--audit-max-images=24",
                   "--audit-baseline=base")
    assert same.ret == pytest.ExitCode.OK
    doc = _results(pytester, "python_planted_constant")
    assert doc["provenance"]["measurements_reused"] == ["jpeg_quality"]
    for case in doc["audits"]:
        assert not case["details"]["baseline"].get("mismatches")
        assert case["details"]["baseline"]["outcome"] == "ok"


def test_the_same_run_base_gates_a_leakier_candidate(project, pytester):
    run = project("--encoder=pixels", "--audit-base=python:planted:noise")
    run.assert_outcomes(passed=2, failed=2)
    run.stdout.fnmatch_lines([
        "*regression against the baseline*beyond the tolerance 0.05*",
        "*pixels compared with the base python:planted:noise measured in this run*",
    ])
    cases = _results(pytester, "pixels")["audits"]
    assert {c["details"]["baseline"]["outcome"] for c in cases} == {"regression"}
    assert {c["details"]["baseline"]["base_spec"] for c in cases} == {"python:planted:noise"}
    base = _results(pytester, "python_planted_noise")
    assert base["encoder"]["reference"] is True
    # The candidate's comparison used the base's own measurement of the same images.
    assert ({c["details"]["baseline"]["base_value"] for c in cases}
            == {c["value"] for c in base["audits"]})

    # With the cache warm, and over two pytest-xdist workers, the gate holds.
    again = project("--encoder=pixels", "--audit-base=python:planted:noise",
                    "-n", "2", "-p", "xdist")
    again.assert_outcomes(passed=2, failed=2)
    assert {c["details"]["baseline"]["outcome"]
            for c in _results(pytester, "pixels")["audits"]} == {"regression"}


def test_a_broken_baseline_stops_the_run_before_any_work(project, pytester):
    (pytester.path / "base.json").write_text("{not json")
    run = project("--encoder=pixels", "--audit-baseline=base.json")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["*base.json*not a valid auditkit results.json*"])


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize(("args", "pyproject", "says"), [
    (["--audit-device=cuda"], "", "*--audit-device='cuda': this machine has no CUDA device*"),
    (["--audit-data=no/such/folder"], "", "*--audit-data='no/such/folder': no such file*"),
    ([], "[tool.auditkit.thresholds.jpeg_quality]\nmax_leakage = [0.1, -0.2]\n",
     "*max_leakage = -0.2: expected a value in [[]0, 1]*"),
    ([], "[tool.auditkit.thresholds.jpeg_qualty]\nmax_leakage = [0.1]\n",
     "*thresholds.jpeg_qualty] names no audit. Did you mean: jpeg_quality*"),
])
def test_setup_mistakes_are_one_usage_error_before_any_case_runs(pytester, args, pyproject,
                                                                 says):
    pytester.makepyfile(**{"audits/test_jpeg_quality": STOCK.read_text()})
    pytester.makefile(".toml", pyproject="[tool.auditkit]\n" + pyproject)
    run = pytester.runpytest_inprocess("audits", "-p", "no:cacheprovider", "--encoder=pixels",
                                       *args)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines([says])
    assert run.stderr.str().count("ERROR") == 1  # one message, said once
    assert " passed" not in run.stdout.str() and " failed" not in run.stdout.str()
    assert "Traceback" not in run.stdout.str() + run.stderr.str()


# Two audits of four threshold cases each; every measurement appends a line to a log.
COUNTED_AUDITS = '''
from auditkit import Measurement, register_audit

for name in ("counted_a", "counted_b"):
    register_audit(name, thresholds={"max_leakage": [0.1, 0.2, 0.3, 0.4]})(
        lambda ctx: {"leakage": Measurement("leakage", 0.0, (0.0, 0.0), None, 10)})
'''

COUNTED_TESTS = '''
import os, pytest

def _counted(audit):
    def compute():
        line = f"{audit.spec} {audit.name} {os.environ.get('PYTEST_XDIST_WORKER')}\\n"
        with open({log!r}, "a") as f:
            f.write(line)
        return audit.record.measure(None)
    audit.check(compute)

@pytest.mark.audit("counted_a")
def test_a(audit):
    _counted(audit)

@pytest.mark.audit("counted_b")
def test_b(audit):
    _counted(audit)
'''


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_xdist_measures_each_encoder_and_audit_once(pytester, tmp_path, cache):
    log = tmp_path / "measured.log"
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["pixels", "python:planted:constant"]
        references = []
    """))
    pytester.makepyfile(planted=ENCODERS)
    pytester.makeconftest(COUNTED_AUDITS)
    pytester.makepyfile(test_counted=COUNTED_TESTS.replace("{log!r}", repr(str(log))))
    pytester.syspathinsert()
    run = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-n", "2", "-p", "xdist", "--audit-report-dir=out",
        f"--audit-cache-dir={tmp_path / 'cache'}", *([] if cache else ["--audit-no-cache"]))
    run.assert_outcomes(passed=16)
    lines = log.read_text().splitlines()
    measured = sorted(line.rsplit(" ", 1)[0] for line in lines)
    assert measured == sorted(f"{spec} {name}" for spec in ("pixels", "python:planted:constant")
                              for name in ("counted_a", "counted_b")), lines
    # Both workers measured: the groups were spread, not all sent to one.
    assert {line.rsplit(" ", 1)[1] for line in lines} == {"gw0", "gw1"}
