import numpy as np
import pytest

from auditkit.cache import EmbeddingCache
from auditkit.cli import main


def test_encoders_lists_aliases_and_forms(capsys):
    assert main(["encoders"]) == 0
    out = capsys.readouterr().out
    for text in ("clip", "open_clip:ViT-B-32/openai", "dinov2", "random:SPEC", "SPEC@PATH",
                 "efficientnet-lite0", "package:efficientnet-lite0", "package:NAME"):
        assert text in out


def test_init_writes_audits_and_config_once(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert main(["init", str(tmp_path)]) == 0
    assert (tmp_path / "audits" / "test_jpeg_quality.py").is_file()
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "mine"') and text.count("[tool.auditkit]") == 1
    main(["init", str(tmp_path)])
    assert (tmp_path / "pyproject.toml").read_text().count("[tool.auditkit]") == 1
    assert "kept" in capsys.readouterr().out


def test_cache_info_and_clear(tmp_path, capsys):
    EmbeddingCache(tmp_path).put("fpabc", "1" * 64, np.ones(3, np.float32))
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert "fpabc" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out


def test_cache_verify_and_compact_an_old_cache(tmp_path, capsys):
    from auditkit.entry_files import EntryFiles

    cache = EmbeddingCache(tmp_path)
    for i in range(3):
        cache.put("fpabc", f"{i}" * 64, np.full(4, i, np.float32))
    EntryFiles(tmp_path).put("fpabc", "9" * 64, np.ones(4, np.float32))
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "verified every entry: 0 corrupt" in out and "1 in old entry files" in out
    assert main(["cache", "compact", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "compacted 3 shard(s) into 1" in out and "       4 entries" in out
    assert "old entry files" not in out and not list(tmp_path.rglob("*.emb"))


def test_cache_commands_on_an_fsspec_url(capsys):
    import uuid

    pytest.importorskip("fsspec")
    url = f"memory://cli-{uuid.uuid4().hex}"
    EmbeddingCache(url).put("fpabc", "1" * 64, np.ones(3, np.float32))
    assert main(["cache", "info", "--cache-dir", url]) == 0
    out = capsys.readouterr().out
    assert f"cache: {url}" in out and "       1 entries" in out
    assert main(["cache", "clear", "--cache-dir", url]) == 0
    assert "removed 1 entries" in capsys.readouterr().out


def _doc(spec, verdict="fail", value=0.4):
    from auditkit.results import AuditResult, build_document

    case = AuditResult("jpeg_quality", "max_leakage=0.1", "leakage", value,
                       (value - .05, value + .05), 1 / 6, 0.1, "max", verdict, 600)
    return build_document({"spec": spec, "fingerprint": "f"}, {}, [case])


def test_report_rerenders_cards_and_an_index_that_reaches_each(tmp_path, capsys):
    from auditkit.layout import encoder_slug
    from auditkit.results import write_json_atomic

    for spec in ("pixels", "timm:resnet18"):
        write_json_atomic(tmp_path / encoder_slug(spec) / "results.json", _doc(spec))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{}")
    assert main(["report", str(tmp_path)]) == 1  # the broken one is named, the rest rendered
    captured = capsys.readouterr()
    assert "broken/results.json" in captured.err
    index = (tmp_path / "index.html").read_text()
    for slug in ("pixels", "timm_resnet18"):
        assert (tmp_path / slug / "card.html").is_file()
        assert f'href="{slug}/card.html"' in index
    assert "jpeg_quality" in index and "max_leakage=0.1" in index


def test_init_config_block_spells_out_the_stock_defaults(tmp_path):
    import tomllib

    from auditkit.config import defaults, load_config

    main(["init", str(tmp_path)])
    written = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["auditkit"]
    assert written["thresholds"] == defaults()["thresholds"]
    assert load_config(tmp_path)["thresholds"] == defaults()["thresholds"]


def test_mitigate_fits_and_writes_an_eraser_with_its_provenance(tmp_path, capsys):
    import json

    from auditkit.encoders import build_encoder
    from auditkit.erasure import Eraser

    out = tmp_path / "e.safetensors"
    assert main(["mitigate", "--encoder", "pixels", "--erase", "jpeg_quality",
                 "--max-images", "24", "--no-compare", "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(out), "--per-class"]) == 0
    assert f"--encoder='pixels+erase:{out}'" in capsys.readouterr().out
    eraser = Eraser.load(out)
    meta = eraser.metadata
    assert meta["source"] == "pixels" and eraser.traces == ["jpeg_quality"]
    assert meta["per_class"] == "true" and "within every semantic class" in meta["method"]
    # One JPEG map per semantic class, not one for all, in each stage.
    assert eraser.raw.rank > 5 and eraser.normalised.rank > 5
    assert meta["source_fingerprint"] == build_encoder("pixels").fingerprint
    held = set(json.loads(meta["held_out_groups"]))
    assert held and not held & eraser.fitted_groups
    assert build_encoder(f"pixels+erase:{out}").fingerprint != meta["source_fingerprint"]


def test_mitigate_draws_before_and_after_on_one_card(tmp_path, capsys):
    import json
    import re

    out = tmp_path / "e.safetensors"
    assert main(["mitigate", "--encoder", "pixels", "--erase", "jpeg_quality",
                 "--max-images", "48", "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(out), "--json", str(tmp_path / "m.json")]) == 0
    assert f"card: {out.with_suffix('.html')}" in capsys.readouterr().out
    doc = json.loads((tmp_path / "m.json").read_text())
    html = out.with_suffix(".html").read_text()
    rows = {r["name"]: r for r in doc["rows"]}
    linear = rows["jpeg_quality leakage (linear probe)"]
    assert linear["metric"] == "leakage" and rows["semantic accuracy"]["metric"] == "accuracy"
    # Every figure, before and after, is on the card with its interval, and the chart draws both.
    for row in doc["rows"]:
        for side in ("before", "after"):
            figure = row[side]
            if figure["value"] is not None:
                assert f"{figure['value']:.3f} [{figure['ci'][0]:.3f}" in html, row["name"]
    assert len(re.findall(r'class="dot dot-reference"', html)) >= len(doc["rows"])
    assert len(re.findall(r'class="dot dot-encoder"', html)) >= len(doc["rows"])
    assert f"pixels+erase:{out}" in html and doc["eraser_digest"] in html
    ranks = doc["ranks"]
    assert f"rank {ranks['raw']} + {ranks['normalised']}, D {doc['dim']}" in html
    assert doc["rank"] == ranks["raw"] + ranks["normalised"]
    # pixels keeps a non-linear JPEG trace: the card must not read "erased" as "gone".
    mlp = rows["jpeg_quality leakage (MLP probe)"]["after"]
    assert mlp["ci"][0] > 0 and "Erased, not gone." in html


def test_mitigate_labels_cameras_as_the_project_audits_them(tmp_path, monkeypatch, capsys):
    import auditkit.measures.camera_model as camera_model
    from auditkit.erasure import Eraser

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.auditkit.camera]\nsimulated = "distinct_jpeg"\nmin_per_class = 4\n')
    seen = []
    real = camera_model.camera_rows

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(camera_model, "camera_rows", spy)
    out = tmp_path / "e.safetensors"
    assert main(["mitigate", "--encoder", "pixels", "--erase", "camera_model",
                 "--camera-min-per-class", "5", "--max-images", "24", "--no-compare",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    # The table's set, the option over the table's minimum: recorded, and used to label.
    assert Eraser.load(out).options == {"camera": {"simulated": "distinct_jpeg",
                                                   "min_per_class": 5}}
    assert seen and all(k["simulated"] == "distinct_jpeg" and k["min_per_class"] == 5
                        for k in seen)
    assert main(["mitigate", "--encoder", "pixels", "--erase", "camera_model",
                 "--camera-level", "lens", "--no-cache"]) == 2
    assert "level = 'lens'" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--encoder", "pixels", "--erase", "jpeg"], "cannot erase 'jpeg'"),
    (["--encoder", "pixels+erase:e.safetensors", "--erase", "jpeg_quality"], "erased already"),
    (["--encoder", "pixels", "--erase", "jpeg_quality", "--stages", "norm"],
     "--stages 'norm': expected one of both, raw, normalised"),
])
def test_mitigate_refuses_what_it_cannot_erase(args, message, capsys):
    assert main(["mitigate", *args]) == 2
    assert message in capsys.readouterr().err
