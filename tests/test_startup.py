"""What a run says when it cannot start, or when an encoder fails: once, at the right time.

A spec that names nothing, weights that are not on this machine and a bad
``[tool.auditkit]`` value end the run before any case runs, with one message
and pytest's usage-error status (4), with or without an auditkit option. An
error no start-up check can see is reported once per case, without chained
repeats.
"""

import importlib
import json
import textwrap
from pathlib import Path

import pytest

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so the start-up checks'
# libraries are imported out here.
for module in ("torch._inductor.test_operators", "timm", "open_clip"):
    importlib.import_module(module)

AUDITS = Path(__file__).resolve().parents[1] / "audits"

FACTORIES = '''
import numpy as np

def broken():
    raise RuntimeError("the factory cannot load its model (BROKEN-FACTORY)")

class Noise:
    fingerprint = "noise-v1"
    def embed(self, images):
        return np.random.default_rng(len(images)).normal(size=(len(images), 8)).astype("float32")

def noise():
    return Noise()
'''


@pytest.fixture
def project(pytester, tmp_path, monkeypatch):
    """Two stock audit modules, the hub switched off and its cache empty."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("test_jpeg_quality", "test_processing"):
        pytester.makepyfile(**{f"audits/{name}": (AUDITS / f"{name}.py").read_text()})
    pytester.makepyfile(factories=FACTORIES)
    pytester.syspathinsert()

    def run(pyproject="", *args):
        pytester.makefile(".toml", pyproject="[tool.auditkit]\n" + textwrap.dedent(pyproject))
        return pytester.runpytest_inprocess(
            "audits", "-p", "no:cacheprovider", "--audit-max-images=24",
            f"--audit-cache-dir={tmp_path / 'cache'}", "--audit-report-dir=out", *args)

    return run


def _one_usage_error(run, says):
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.stdout.str()
    run.stderr.fnmatch_lines([says])
    err = run.stderr.str()
    assert err.count("ERROR:") == 1, err
    out = run.stdout.str()
    assert " passed" not in out and " failed" not in out and "Traceback" not in out + err


@pytest.mark.parametrize(("args", "says"), [
    (["--encoder=clpi"], "ERROR: --encoder*unknown encoder 'clpi'*Did you mean: clip*"),
    (["--encoder=timm:resnt18"], "ERROR: timm has no model 'resnt18'*Did you mean: resnet18*"),
    (["--encoder=pixels", "--audit-reference=open_clip:ViT-B-32/opnai"],
     "ERROR: open_clip has no pretrained tag 'opnai'*Did you mean: openai*"),
    (["--encoder=clip"], "ERROR: weights for encoder 'open_clip:ViT-B-32/openai' are not "
                         "available: HF_HUB_OFFLINE is set.*"),
    (["--encoder=timm:resnet18@no/such.pth"],
     "ERROR: weights file 'no/such.pth' for encoder 'timm:resnet18@no/such.pth' does not exist*"),
    (["--encoder=hf:./no-such-folder"], "ERROR: hf: folder 'no-such-folder'*has no config.json*"),
    # Weights only at a URL (19 of timm's pretrained tags): auditkit reads the hub only.
    (["--encoder=timm:gcvit_tiny.in1k"],
     "ERROR: timm model 'gcvit_tiny.in1k'*has no hub weights (url 'https://*"),
])
def test_a_spec_that_cannot_be_built_is_one_usage_error_at_start_up(project, args, says):
    _one_usage_error(project("", *args), says)


def test_an_hf_folder_without_weights_is_a_usage_error(project, pytester):
    folder = pytester.path / "ft"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "vit"}')
    _one_usage_error(project("", "--encoder=hf:./ft"), "ERROR: hf:*ft*has no *.safetensors*")


@pytest.mark.parametrize(("pyproject", "says"), [
    ('encoders = ["clpi"]\n', "ERROR: [[]tool.auditkit[]] encoders/references in*unknown "
                              "encoder 'clpi'*Did you mean: clip*"),
    ('encoders = ["pixels"]\nreferences = ["clip"]\n',
     "ERROR: weights for encoder 'open_clip:ViT-B-32/openai' are not available*"),
    ('encoders = ["pixels"]\nsed = 1\n', "ERROR: [[]tool.auditkit[]] sed = 1*Did you mean: seed*"),
    ('encoders = ["pixels"]\n[tool.auditkit.camra]\nsimulated = "shared_jpeg"\n',
     "ERROR: [[]tool.auditkit.camra[]] is read by no audit. Did you mean: camera*"),
    ('encoders = ["pixels"]\n[tool.auditkit.style]\nper_imag = 4\n',
     "ERROR: [[]tool.auditkit.style[]] has unknown key(s) 'per_imag'*"),
    ('encoders = ["pixels"]\n[tool.auditkit.style]\nfolders = ["styles/nst"]\n',
     "ERROR: [[]tool.auditkit.style[]] folders: 'styles/nst'*does not exist*"),
])
def test_a_bad_configuration_stops_a_run_given_no_option(project, pyproject, says):
    """Without an auditkit option the first audit module builds the session: still one error."""
    _one_usage_error(project(pyproject), says)


def test_a_failing_encoder_is_reported_once_per_case(project, pytester):
    (pytester.path / "audits" / "test_processing.py").unlink()
    run = project('encoders = ["pixels"]\n[tool.auditkit.thresholds.jpeg_quality]\n'
                  'max_leakage = [0.1, 0.3, 0.5]\n',
                  "--encoder=python:factories:broken")
    run.assert_outcomes(failed=3)
    out = run.stdout.str()
    failures = out.split("= FAILURES =")[1].split("= auditkit =")[0]
    assert failures.count("BROKEN-FACTORY") == 3, failures
    assert "During handling" not in out and "direct cause" not in out


def test_configured_references_stay_with_encoder_and_are_named(project, pytester):
    (pytester.path / "audits" / "test_processing.py").unlink()
    # A null reference keeps the run short; pixels is configured the same way.
    # Cold, then warm from the cache: the reference stays either way.
    for reused in ([], ["jpeg_quality"]):
        run = project('references = ["python:factories:noise"]\n'
                      '[tool.auditkit.thresholds.jpeg_quality]\nmax_leakage = [0.5]\n',
                      "--encoder=python:factories:broken")
        outcomes = run.parseoutcomes()
        assert outcomes.get("failed") == 1, outcomes  # the encoder; the reference passes or skips
        assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 1, outcomes
        run.stdout.fnmatch_lines(["references: python:factories:noise (--audit-reference=SPEC "
                                  "replaces them, --audit-reference=none drops them)"])
        doc = json.loads((pytester.path / "out" / "python_factories_noise" / "results.json")
                         .read_text())
        assert doc["provenance"]["measurements_reused"] == reused
