"""Style audits: options and planted-signal checks of all three."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.encoders.planted import NoiseEncoder, ThumbnailEncoder
from auditkit.errors import ConfigError
from auditkit.extract import Extractor
from auditkit.measures import style
from auditkit.transforms.base import Variant
from auditkit.transforms.catalogue import register, unregister
from auditkit.verdicts import Threshold

FAMILIES = ["noise", "style"]
PER_IMAGE = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # These probes are tiny; two torch threads on a busy two-core machine
    # spend more time waiting for each other than computing.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def probe_set():
    return builtin_probe_set(seed=0, max_images=24)


@pytest.fixture(scope="module")
def pixels():
    return Extractor(build_encoder("pixels"))


def _measure(fn, extractor, probe_set, **kwargs):
    return fn(extractor, probe_set, 0, per_image=PER_IMAGE, families=FAMILIES, **kwargs)


@pytest.fixture(scope="module")
def planted(pixels, probe_set):
    """The three audits on the pixels baseline, with the pairs computed after each."""
    out, computed = {}, []
    for name, fn, kwargs in [
        ("fine_grained", style.measure_fine_grained, {}),
        ("generalisation", style.measure_generalisation, {"repeats": 1}),
        ("recognition", style.measure_recognition, {}),
    ]:
        out[name] = _measure(fn, pixels, probe_set, **kwargs)["leakage"]
        computed.append(pixels.stats.computed)
    out["computed"] = computed
    return out


@pytest.fixture(scope="module")
def noise():
    return Extractor(NoiseEncoder())


# --------------------------------------------------------------------------
# Options


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"per_image": "6"}, "per_image = '6'"),
        ({"families": "style"}, "families = 'style'"),
        ({"repeats": 0}, "repeats = 0"),
        ({"folder": ["x"]}, "unknown key"),
        (["x"], "expected a table"),
    ],
    ids=["per_image not a number", "families not a list", "no repeats", "typo", "not a table"],
)
def test_bad_options_are_named(table, message):
    with pytest.raises(ConfigError, match=message):
        style.options_from_config(table)


def test_options_default_and_read(tmp_path):
    assert style.options_from_config(None) == style.StyleOptions()
    o = style.options_from_config({"per_image": 8, "folders": ["nst"], "families": ["style"]},
                                  tmp_path)
    assert (o.per_image, o.folders, o.families, o.root) == (8, ("nst",), ("style",), tmp_path)


def test_per_family_reads_the_confusion_matrix():
    ids = ["a/x", "a/y", "b/z"]
    conf = np.array([[3, 1, 0], [2, 0, 2], [0, 0, 4]])
    out = style.per_family(conf, ids, {i: i[0] for i in ids})
    assert out["a"] == {"members": 2, "accuracy": 0.375, "in_family": 0.75,
                        "in_family_chance": 2 / 3}
    assert out["b"]["accuracy"] == 1.0


# --------------------------------------------------------------------------
# Planted signal: the pixels baseline is caught, noise passes


def test_fine_grained_catches_the_pixels_baseline(planted, probe_set):
    m = planted["fine_grained"]
    assert m.ci[0] > 0.5
    assert Threshold("max_leakage", 0.5).judge(m)[0] == "fail"
    assert m.n == PER_IMAGE * len(probe_set) and m.chance == pytest.approx(1 / 15)
    assert set(m.details["per_family"]) == set(FAMILIES)
    assert m.details["per_family"]["noise"]["in_family"] > 0.5
    assert len(m.details["variants"]) == 15 and m.details["per_image"] == PER_IMAGE


def test_generalisation_catches_the_pixels_baseline(planted):
    m = planted["generalisation"]
    assert Threshold("max_leakage", 0.3).judge(m)[0] == "fail"
    assert m.chance == 0.5 and len(m.details["repeats"]) == 1
    held = m.details["repeats"][0]["held_out"]["style"]
    assert len(held[0]) + len(held[1]) == 11 and not set(held[0]) & set(held[1])


def test_recognition_catches_the_pixels_baseline(planted):
    m = planted["recognition"]
    assert Threshold("max_leakage", 0.5).judge(m)[0] == "fail"
    assert m.chance == pytest.approx(1 / 11)


def test_the_three_audits_embed_the_same_pairs_once(planted, probe_set):
    assert planted["computed"] == [PER_IMAGE * len(probe_set)] * 3


@pytest.mark.parametrize(
    "fn",
    [style.measure_fine_grained, style.measure_generalisation, style.measure_recognition],
    ids=["fine_grained", "generalisation", "recognition"],
)
def test_noise_encoder_sits_near_chance_and_passes(fn, noise, probe_set):
    ms = _measure(fn, noise, probe_set)
    m = ms["leakage"]
    assert Threshold("max_leakage", 0.5).judge(m) == (
        "pass", f"interval [{m.ci[0]:.3f}, {m.ci[1]:.3f}] lies at or below 0.5"
    )
    assert abs(m.value) < 0.15 and m.ci[0] < 0.05 and not m.degenerate


# --------------------------------------------------------------------------
# Registered transformations and style folders


def heavy_tint(image, params, seed):
    return Image.blend(image.convert("RGB"), Image.new("RGB", image.size, (255, 0, 0)), 0.6)


@pytest.fixture
def brush():
    variant = register(Variant("brushes/red", "brushes", heavy_tint, {}))
    yield variant
    unregister(variant.id)


def test_registered_transform_joins_the_audits(brush, probe_set):
    small = probe_set.subset(range(0, 24, 2))
    fams = ["noise", "colour", "brushes"]
    gen = style.measure_generalisation(Extractor(ThumbnailEncoder()), small, 0,
                                       per_image=PER_IMAGE, families=fams, repeats=1)
    details = gen["leakage"].details
    assert "brushes/red" in [v["id"] for v in details["variants"]]
    # A family of one cannot be held out: named, and left out of the chance level.
    assert details["left_out_families"] == {"brushes": "one member: nothing to hold out"}
    assert gen["leakage"].chance == 0.5 and "brushes" not in details["families"]


def _folder_styles(root: Path) -> Path:
    """Three 'styles' of six contents (plain, horizontal and vertical bars), one corrupt file."""
    rng = np.random.default_rng(0)
    for c in range(6):
        content = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        plain = np.asarray(Image.fromarray(content).resize((64, 48), Image.Resampling.BICUBIC))
        rows, cols = plain.copy(), plain.copy()
        rows[::8] = rows[1::8] = 0
        cols[:, ::8] = cols[:, 1::8] = 0
        for name, pixels in {"plain": plain, "rows": rows, "columns": cols}.items():
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / name / f"content{c}.png")
    (root / "rows" / "broken.png").write_bytes(b"\x89PNG truncated")
    return root


def test_recognition_probes_configured_style_folders(tmp_path, probe_set):
    _folder_styles(tmp_path / "styles" / "nst")
    options = style.options_from_config(
        {"folders": ["styles/nst"], "families": ["style"], "per_image": PER_IMAGE}, tmp_path)
    ms = style.measure("style_recognition", Extractor(ThumbnailEncoder()),
                       probe_set.subset(range(0, 24, 2)), options=options)
    m = ms["leakage"]
    assert m.chance == pytest.approx(1 / 3) and m.n == 18
    assert m.ci[0] > 0.5  # a thumbnail sees the bars
    assert m.details["measured_on"] == "style-transfer folders styles/nst"
    assert m.details["n_contents"] == 6
    (skip,) = m.details["skipped"]
    assert skip.startswith(str(tmp_path / "styles" / "nst" / "rows" / "broken.png"))
    assert m.details["builtin_styles"]["chance"] == pytest.approx(1 / 11)


def test_measure_dispatches_by_audit_name(probe_set):
    options = dataclasses.replace(style.StyleOptions(), per_image=PER_IMAGE,
                                  families=("noise", "colour"), repeats=1)
    ms = style.measure("style_generalisation", Extractor(ThumbnailEncoder()),
                       probe_set.subset(range(0, 24, 2)), options=options)
    assert set(ms) == {"leakage", "accuracy"} and ms["accuracy"].chance == 0.5
    with pytest.raises(ConfigError, match="unknown style audit 'style_colour'"):
        style.measure("style_colour", Extractor(ThumbnailEncoder()), probe_set)


def test_generalisation_passes_only_what_a_planted_family_signal_shows():
    # At D = 768 on 192 rows, each held-out probe trains on a quarter of them: a
    # planted family signal of 0.5 reads near 0, so a low reading vouches for nothing.
    # Without the planted check the power bound alone let this pass max_leakage = 0.3.
    wide = Extractor(NoiseEncoder(dim=768))
    m = _measure(style.measure_generalisation, wide, builtin_probe_set(seed=0, max_images=48),
                 repeats=1)["leakage"]
    check = m.details["planted_check"]
    assert [p["leakage"] for p in check["planted"]] == [0.1, 0.5]
    assert check["planted"][1]["reads"] < 0.3
    assert m.detectable >= check["detectable_leakage"] > 0.3
    assert Threshold("max_leakage", 0.3).judge(m)[0] == "inconclusive"
