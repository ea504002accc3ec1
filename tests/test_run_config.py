"""RunConfig: command line over [tool.auditkit] over the defaults, validated once."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditkit.encoders.torch_encoder import AMP_DTYPES
from auditkit.errors import ConfigError
from auditkit.run_config import AMP_CHOICES, RunConfig


def _project(tmp_path: Path, text: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize(
    ("cli", "pyproject", "encoders", "references", "seed"),
    [
        pytest.param({}, "", ("efficientnet-lite0",), ("random:efficientnet-lite0", "pixels"), 0,
                     id="nothing given: the stock defaults"),
        pytest.param({}, '[tool.auditkit]\nencoders = ["clip"]\nreferences = []\nseed = 4\n',
                     ("clip",), (), 4, id="pyproject over the defaults"),
        pytest.param({"encoder": ["timm:resnet18"], "audit_seed": 9},
                     '[tool.auditkit]\nencoders = ["clip"]\nseed = 4\n',
                     ("timm:resnet18",), (), 9,
                     id="command line over pyproject; --encoder drops configured references"),
        pytest.param({"encoder": ["clip"], "audit_reference": ["pixels"]}, "",
                     ("clip",), ("pixels",), 0, id="--encoder with named references"),
        pytest.param({"encoder": ["clip"]}, '[tool.auditkit]\nreferences = ["pixels"]\n',
                     ("clip",), ("pixels",), 0, id="--encoder keeps configured references"),
        pytest.param({"encoder": ["clip"], "audit_reference": ["none"]},
                     '[tool.auditkit]\nreferences = ["pixels"]\n',
                     ("clip",), (), 0, id="--audit-reference=none drops them"),
        pytest.param({"encoder": ["clip"], "audit_reference": ["random:clip"]},
                     '[tool.auditkit]\nreferences = ["pixels"]\n',
                     ("clip",), ("random:clip",), 0, id="--audit-reference replaces them"),
        pytest.param({"encoder": ["pixels"]}, '[tool.auditkit]\nreferences = ["pixels"]\n',
                     ("pixels",), (), 0, id="an encoder given is audited as an encoder"),
    ],
)
def test_precedence(tmp_path, cli, pyproject, encoders, references, seed):
    run = RunConfig.resolve(cli, _project(tmp_path, pyproject))
    assert (run.encoders, run.references, run.seed) == (encoders, references, seed)
    # The cache is on unless asked off: what a warm run serves is what these settings key.
    assert run.use_cache and run.cache_dir is None
    assert set(run.specs) == set(run.all_specs)
    assert all(run.specs[s].raw == s for s in run.all_specs)


@pytest.mark.parametrize(
    ("cli", "pyproject", "match"),
    [
        pytest.param({"encoder": ["clpi"]}, "", "Did you mean: clip", id="typo in a spec"),
        pytest.param({}, '[tool.auditkit]\nencoders = ["tim:resnet18"]\n', "Did you mean: timm",
                     id="typo in a configured spec"),
        pytest.param({}, '[tool.auditkit]\nseed = "0"\n', "seed = '0'", id="seed not an integer"),
        pytest.param({}, '[tool.auditkit]\nencoders = ["clip", 3]\n',
                     "encoders = \\['clip', 3\\].*expected a non-empty list of encoder specs",
                     id="a spec not a string"),
        pytest.param({}, '[tool.auditkit]\nreferences = "pixels"\n',
                     "references = 'pixels'.*expected a list", id="references not a list"),
        pytest.param({}, '[tool.auditkit]\nsed = 3\n', "sed = 3.*is not a setting. Did you "
                     "mean: seed", id="a misspelled setting"),
        pytest.param({}, '[tool.auditkit]\ncamera = "distinct_jpeg"\n',
                     "camera = 'distinct_jpeg'.*expected a table", id="an audit table not a table"),
        pytest.param({"audit_max_images": 0}, "", "--audit-max-images=0", id="no images"),
        pytest.param({"audit_workers": -1}, "", "--audit-workers=-1", id="negative workers"),
        pytest.param({"audit_update_baseline": True}, "", "needs --audit-baseline",
                     id="update without a baseline"),
        pytest.param({"audit_baseline": "b.json", "audit_baseline_tolerance": -0.1}, "",
                     "expected >= 0", id="negative tolerance"),
        pytest.param({}, "[tool.auditkit]\nbaseline_tolerance = -1\n", "baseline_tolerance",
                     id="negative configured tolerance"),
        pytest.param({"audit_base": "clip", "audit_baseline": "b.json"}, "",
                     "--audit-base 'clip' and --audit-baseline 'b.json'",
                     id="a same-run base and a baseline file at once"),
        pytest.param({"audit_base": "clpi"}, "", "--audit-base.*Did you mean: clip",
                     id="typo in the base"),
    ],
)
def test_bad_settings_are_one_config_error(tmp_path, cli, pyproject, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.resolve(cli, _project(tmp_path, pyproject))


def test_tables_and_paths(tmp_path):
    run = RunConfig.resolve(
        {"encoder": ["pixels"], "audit_cache_dir": "c", "audit_report_dir": "r",
         "audit_baseline": "base", "audit_no_cache": True},
        _project(tmp_path, "[tool.auditkit.style]\nper_image = 3\n"))
    assert run.table("style") == {"per_image": 3} and run.table(None) == {}
    assert run.table("missing") == {}
    assert (run.cache_dir, run.report_dir, run.use_cache) == (Path("c"), Path("r"), False)
    assert run.baseline is not None and run.baseline.path == Path("base")
    assert run.is_reference("pixels") is False


def test_amp_choices_follow_the_encoder():
    assert set(AMP_CHOICES) == set(AMP_DTYPES)


def test_the_same_run_base_is_audited_as_a_reference_with_the_tolerance(tmp_path):
    run = RunConfig.resolve(
        {"encoder": ["clip@ft.pt"], "audit_reference": ["pixels"], "audit_base": "clip",
         "audit_baseline_tolerance": 0.02}, _project(tmp_path))
    assert run.base is not None and (run.base.spec, run.base.tolerance) == ("clip", 0.02)
    assert run.all_specs == ["clip@ft.pt", "pixels", "clip"]
    assert run.is_reference("clip") and not run.is_reference("clip@ft.pt")
    assert run.baseline is None


def test_the_allow_mismatch_flag_reaches_the_baseline(tmp_path):
    cli = {"encoder": ["pixels"], "audit_baseline": "b.json"}
    assert not RunConfig.resolve(cli, _project(tmp_path)).baseline.allow_mismatch
    allowed = RunConfig.resolve({**cli, "audit_baseline_allow_mismatch": True}, tmp_path)
    assert allowed.baseline.allow_mismatch


@pytest.mark.parametrize(
    ("cli", "pyproject", "seed", "split_seed"),
    [
        pytest.param({}, "", 0, 0, id="nothing given: one seed"),
        pytest.param({"audit_seed": 3}, "", 3, 3, id="the split seed follows --audit-seed"),
        pytest.param({}, "[tool.auditkit]\nseed = 4\nsplit_seed = 7\n", 4, 7,
                     id="configured split seed"),
        pytest.param({"audit_split_seed": 9}, "[tool.auditkit]\nsplit_seed = 7\n", 0, 9,
                     id="command line over pyproject"),
        pytest.param({"audit_split_seed": 0}, "[tool.auditkit]\nseed = 4\n", 4, 0,
                     id="split seed 0 is a seed, not 'unset'"),
    ],
)
def test_split_seed_precedence(tmp_path, cli, pyproject, seed, split_seed):
    run = RunConfig.resolve({"encoder": ["pixels"], **cli}, _project(tmp_path, pyproject))
    assert (run.seed, run.split_seed) == (seed, split_seed)


@pytest.mark.parametrize(
    ("cli", "pyproject", "match"),
    [
        pytest.param({}, '[tool.auditkit]\nsplit_seed = "1"\n', "split_seed = '1'",
                     id="configured split seed not an integer"),
        pytest.param({}, "[tool.auditkit]\nsplit_seed = true\n", "split_seed = True",
                     id="configured split seed a boolean"),
    ],
)
def test_bad_split_seed_is_a_config_error(tmp_path, cli, pyproject, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.resolve({"encoder": ["pixels"], **cli}, _project(tmp_path, pyproject))


@pytest.mark.parametrize(("given", "expected"), [
    ("s3://bucket/auditkit", "s3://bucket/auditkit"),
    ("memory://cache", "memory://cache"),
    ("some/folder", Path("some/folder")),
])
def test_a_cache_url_stays_a_url(tmp_path, given, expected):
    run = RunConfig.resolve({"encoder": ["pixels"], "audit_cache_dir": given}, _project(tmp_path))
    assert run.cache_dir == expected


def test_a_session_stores_embeddings_at_a_fsspec_url(tmp_path):
    pytest.importorskip("fsspec")
    from auditkit.session import AuditSession

    run = RunConfig.resolve({"encoder": ["pixels"], "audit_cache_dir": "memory://auditkit-run"},
                            _project(tmp_path))
    cache = AuditSession(run).cache()
    assert cache is not None and cache.url.startswith("memory://")


@pytest.mark.parametrize(
    ("cli", "pyproject", "profile", "max_images"),
    [
        pytest.param({}, "", "quick", 120, id="default: quick, half the built-in set"),
        pytest.param({"audit_profile": "full"}, "", "full", None, id="full: every image"),
        pytest.param({}, '[tool.auditkit]\nprofile = "full"\n', "full", None,
                     id="configured profile"),
        pytest.param({"audit_profile": "quick"}, '[tool.auditkit]\nprofile = "full"\n',
                     "quick", 120, id="command line over pyproject"),
        pytest.param({"audit_max_images": 36}, "", "quick", 36, id="max images over the profile"),
        pytest.param({"audit_data": "."}, "", "quick", None,
                     id="the user's own folder is used whole"),
    ],
)
def test_profile_sets_the_image_cap(tmp_path, cli, pyproject, profile, max_images):
    run = RunConfig.resolve(cli, _project(tmp_path, pyproject))
    assert (run.profile, run.max_images) == (profile, max_images)


@pytest.mark.parametrize(
    ("cli", "pyproject", "match"),
    [
        pytest.param({"audit_profile": "fast"}, "", r"--audit-profile='fast'.*quick, full",
                     id="unknown profile"),
        pytest.param({}, "[tool.auditkit]\nprofile = 1\n", r"\[tool.auditkit\] profile=1",
                     id="configured profile not a name"),
    ],
)
def test_bad_profile_is_one_config_error(tmp_path, cli, pyproject, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.resolve(cli, _project(tmp_path, pyproject))


def test_a_misspelled_spec_is_refused_before_torch_is_imported(tmp_path):
    """`pytest audits/ --encoder=clpi` answers at once: the spec is parsed before torch loads."""
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from auditkit.errors import ConfigError
        from auditkit.run_config import RunConfig
        try:
            RunConfig.resolve({"encoder": ["clpi"], "audit_device": "cuda"}, Path(sys.argv[1]))
        except ConfigError as exc:
            print("refused:", exc)
        print("torch imported:", "torch" in sys.modules)
    """)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True, env=env).stdout
    assert "refused: --encoder/--audit-reference: unknown encoder 'clpi'" in out
    assert "Did you mean: clip" in out
    assert "torch imported: False" in out


def test_camera_options_override_the_table_and_are_checked_at_start_up(tmp_path):
    root = _project(tmp_path, """
        [tool.auditkit.camera]
        simulated = "distinct_jpeg"
        level = "model"
    """)
    run = RunConfig.resolve({"encoder": ["pixels"], "audit_camera_level": "make",
                             "audit_camera_min_per_class": 4}, root)
    assert dict(run.table("camera")) == {"simulated": "distinct_jpeg", "level": "make",
                                         "min_per_class": 4}
    for cli in ({"audit_camera_level": "lens"}, {"audit_camera_min_per_class": 1}):
        with pytest.raises(ConfigError, match="--audit-camera"):
            RunConfig.resolve({"encoder": ["pixels"], **cli}, root)
    with pytest.raises(ConfigError, match=r"\[tool.auditkit.camera\] min_per_class = 'ten'"):
        RunConfig.resolve({"encoder": ["pixels"]},
                          _project(tmp_path, "[tool.auditkit.camera]\nmin_per_class = \"ten\"\n"))
    # A project without the table keeps its measurement keys: no empty table appears.
    assert "camera" not in RunConfig.resolve({"encoder": ["pixels"]}, _project(tmp_path)).project
