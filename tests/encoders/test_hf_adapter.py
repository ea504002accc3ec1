"""``hf:``: transformers models from save_pretrained folders, checked against transformers."""

import importlib
import json

import numpy as np
import pytest
from PIL import Image

from auditkit.encoders import LoadOptions, build_encoder, parse_spec
from auditkit.encoders import weights as weights_mod
from auditkit.encoders.processor_config import processor_transform
from auditkit.errors import SpecError, WeightsUnavailableError

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
# Building a transformers model imports this module, which registers a C++ operator
# library. pytester's in-process runs drop the modules a run imported, and a second
# import would register the library twice: imported here, it outlives every run.
importlib.import_module("torch._inductor.test_operators")

VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
              image_size=32, patch_size=8)
IMAGE = Image.fromarray((np.random.default_rng(0).random((90, 120, 3)) * 255).astype("uint8"))


def _save(folder, model, processor):
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One tiny model per family, saved as a fine-tune would be."""
    t = transformers
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    clip = t.CLIPModel(t.CLIPConfig(
        vision_config=VISION, projection_dim=16,
        text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, vocab_size=100, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1)))
    square = dict(size={"height": 32, "width": 32})
    return {
        "clip": (_save(root / "clip", clip, t.CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})), clip),
        "siglip": (_save(root / "siglip", t.SiglipVisionModel(t.SiglipVisionConfig(**VISION)),
                         t.SiglipImageProcessor(**square)), None),
        "dinov2": (_save(root / "dinov2", t.Dinov2Model(t.Dinov2Config(**VISION)),
                         t.BitImageProcessor(size={"shortest_edge": 36},
                                             crop_size={"height": 32, "width": 32},
                                             do_center_crop=True)), None),
        "vit": (_save(root / "vit", t.ViTModel(t.ViTConfig(**VISION), add_pooling_layer=False),
                      t.ViTImageProcessor(**square)), None),
        "vit_mae": (_save(root / "mae", t.ViTMAEModel(t.ViTMAEConfig(**VISION)),
                          t.ViTImageProcessor(**square)), None),
        "convnext": (_save(root / "convnext", t.ConvNextModel(t.ConvNextConfig(
            hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1])),
            t.ConvNextImageProcessor(size={"shortest_edge": 64}, crop_pct=0.875)), None),
        "swin": (_save(root / "swin", t.SwinModel(t.SwinConfig(
            image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
            window_size=4)), t.ViTImageProcessor(**square)), None),
    }


@pytest.mark.parametrize("family", ["clip", "siglip", "dinov2", "vit", "vit_mae", "convnext",
                                    "swin"])
def test_preprocessing_equals_the_processor_and_embedding_repeats(folders, family):
    folder, _ = folders[family]
    encoder = build_encoder(f"hf:{folder}")
    processor = transformers.AutoImageProcessor.from_pretrained(str(folder), backend="pil")
    expected = processor(images=IMAGE, return_tensors="pt")["pixel_values"][0]
    np.testing.assert_allclose(encoder.preprocess(IMAGE).numpy(), expected.numpy(), atol=1e-6)
    one, two = encoder.embed([IMAGE]), encoder.embed([IMAGE, IMAGE])
    assert one.ndim == 2 and one.shape[1] > 0
    # ViT-MAE would shuffle its patches on every call without the ordered noise.
    np.testing.assert_allclose(one[0], two[1], atol=1e-5)


def test_clip_embedding_is_the_projected_image_feature(folders):
    folder, clip = folders["clip"]
    encoder = build_encoder(f"hf:{folder}")
    processor = transformers.AutoImageProcessor.from_pretrained(str(folder), backend="pil")
    with torch.no_grad():
        out = clip.get_image_features(**processor(images=IMAGE, return_tensors="pt"))
    expected = getattr(out, "pooler_output", out)
    assert encoder.embed([IMAGE]).shape == (1, 16)  # the projection, not the 32-wide tower
    np.testing.assert_allclose(encoder.embed([IMAGE]), expected.numpy(), atol=1e-5)


def test_dinov2_default_is_the_normed_class_token(folders):
    folder, _ = folders["dinov2"]
    model = transformers.Dinov2Model.from_pretrained(str(folder))
    encoder = build_encoder(f"hf:{folder}")
    with torch.no_grad():
        out = model(pixel_values=encoder.preprocess(IMAGE)[None])
    np.testing.assert_allclose(encoder.embed([IMAGE]), out.pooler_output.numpy(), atol=1e-5)
    mean = build_encoder(f"hf:{folder}#pool=mean").embed([IMAGE])
    np.testing.assert_allclose(mean, out.last_hidden_state.mean(dim=1).numpy(), atol=1e-5)


def test_fingerprint_follows_weight_bytes_processor_and_pool(folders, tmp_path):
    import shutil

    folder, _ = folders["vit"]
    copy = tmp_path / "vit"
    shutil.copytree(folder, copy)
    base = build_encoder(f"hf:{copy}")
    assert build_encoder(f"hf:{copy}#pool=mean").fingerprint != base.fingerprint
    config = json.loads((copy / "preprocessor_config.json").read_text())
    config["image_mean"] = [0.4, 0.4, 0.4]
    (copy / "preprocessor_config.json").write_text(json.dumps(config))
    after_processor = build_encoder(f"hf:{copy}")
    assert after_processor.fingerprint != base.fingerprint
    model = transformers.ViTModel.from_pretrained(str(copy), add_pooling_layer=False)
    with torch.no_grad():
        model.embeddings.cls_token.add_(0.5)
    model.save_pretrained(copy)  # a fine-tune step: same folder, new bytes
    after_weights = build_encoder(f"hf:{copy}")
    assert after_weights.fingerprint != after_processor.fingerprint
    assert after_weights.weights_sha256 != after_processor.weights_sha256


def test_random_control_has_the_config_and_seeded_weights(folders):
    folder, _ = folders["dinov2"]
    trained = build_encoder(f"hf:{folder}")
    a = build_encoder(f"random:hf:{folder}", LoadOptions(seed=1))
    b = build_encoder(f"random:hf:{folder}", LoadOptions(seed=1))
    c = build_encoder(f"random:hf:{folder}", LoadOptions(seed=2))
    assert a.fingerprint == b.fingerprint != c.fingerprint != trained.fingerprint
    assert a.embed([IMAGE]).shape == trained.embed([IMAGE]).shape
    assert a.weights_source == "random init, seed 1"
    assert parse_spec(f"hf:{folder}@ft.safetensors").control().raw == f"random:hf:{folder}"


def test_a_pickle_only_folder_is_refused(folders, tmp_path):
    import shutil

    folder, _ = folders["vit"]
    copy = tmp_path / "pickled"
    shutil.copytree(folder, copy)
    (copy / "model.safetensors").rename(copy / "pytorch_model.bin")
    with pytest.raises(WeightsUnavailableError, match=r"pytorch_model\.bin.*safe_serialization"):
        build_encoder(f"hf:{copy}")


def test_folder_without_processor_config_says_what_to_save(folders, tmp_path):
    import shutil

    folder, _ = folders["vit"]
    copy = tmp_path / "noproc"
    shutil.copytree(folder, copy)
    (copy / "preprocessor_config.json").unlink()
    with pytest.raises(WeightsUnavailableError, match=r"preprocessor_config\.json"):
        build_encoder(f"hf:{copy}")


@pytest.mark.parametrize("spec", ["hf:facebook/dinov2-base#pool=max", "hf:#pool=cls"])
def test_malformed_specs_are_spec_errors(spec):
    with pytest.raises(SpecError):
        parse_spec(spec)


def test_a_hub_repo_without_network_gives_the_one_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(WeightsUnavailableError) as info:
        build_encoder("hf:facebook/dinov2-base", LoadOptions(cache_dir=str(tmp_path)))
    message = str(info.value)
    assert "hub repo 'facebook/dinov2-base'" in message and str(tmp_path) in message
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_processor_crop_pct_follows_convnext():
    _, described = processor_transform(
        {"size": {"shortest_edge": 224}, "crop_pct": 0.875, "resample": 3}, "x")
    assert described["resize"] == {"shortest_edge": 256, "mode": "BICUBIC"}
    assert described["crop"] == [224, 224]


def _offline_project(pytester, monkeypatch, audit_file):
    """A project holding one stock audit file, with the hub switched off."""
    from pathlib import Path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    audit = Path(__file__).resolve().parents[2] / "audits" / audit_file
    pytester.makepyfile(**{f"audits/{audit.stem}": audit.read_text()})
    pytester.makefile(".toml", pyproject="[tool.auditkit]\n")


def _results(pytester, spec):
    from auditkit.layout import encoder_slug

    return json.loads((pytester.path / "out" / encoder_slug(spec) / "results.json").read_text())


def test_a_fine_tune_folder_is_audited_offline_and_remeasured_when_it_changes(
        pytester, tmp_path, monkeypatch):
    """The whole path with the cache on: save_pretrained folder -> audit -> new weights."""
    _offline_project(pytester, monkeypatch, "test_jpeg_quality.py")
    folder = pytester.path / "ft"
    torch.manual_seed(0)
    model = transformers.ViTModel(transformers.ViTConfig(**VISION), add_pooling_layer=False)
    _save(folder, model, transformers.ViTImageProcessor(size={"height": 32, "width": 32}))
    spec = "hf:./ft"

    def run():
        result = pytester.runpytest_inprocess(
            "audits", "-p", "no:cacheprovider", "--audit-max-images=24",
            f"--audit-cache-dir={tmp_path / 'cache'}", "--audit-report-dir=out",
            f"--encoder={spec}")
        assert result.ret in (0, 1), result.stdout.str()
        return _results(pytester, spec)

    first = run()
    assert first["encoder"]["weights_sha256"] and first["audits"][0]["verdict"] != "error"
    assert run()["provenance"]["measurements_reused"] == ["jpeg_quality"]
    with torch.no_grad():
        model.embeddings.patch_embeddings.projection.weight.mul_(-1.0)
    model.save_pretrained(folder)  # a further fine-tune step, saved over the old one
    after = run()
    assert after["encoder"]["weights_sha256"] != first["encoder"]["weights_sha256"]
    assert after["provenance"]["measurements_reused"] == []
    assert after["provenance"]["extraction"]["computed"] > 0


@pytest.mark.parametrize("family", ["clip", "siglip", "dinov2", "vit_mae"])
def test_each_family_is_audited_up_to_its_card(pytester, tmp_path, folders, family, monkeypatch):
    from auditkit.layout import encoder_slug

    _offline_project(pytester, monkeypatch, "test_jpeg_quality.py")
    spec = f"hf:{folders[family][0]}"
    result = pytester.runpytest_inprocess(
        "audits", "-p", "no:cacheprovider", "--audit-max-images=24",
        f"--audit-cache-dir={tmp_path / 'cache'}", "--audit-report-dir=out", f"--encoder={spec}")
    assert result.ret in (0, 1), result.stdout.str()
    folder = pytester.path / "out" / encoder_slug(spec)
    doc = json.loads((folder / "results.json").read_text())
    assert {a["verdict"] for a in doc["audits"]} <= {"pass", "fail", "inconclusive"}
    assert doc["encoder"]["canonical"] == spec and doc["encoder"]["weights_sha256"]
    assert spec in (folder / "card.html").read_text()


def test_a_fine_tune_folder_shares_its_base_architecture_whatever_its_path(folders, tmp_path):
    import shutil

    from auditkit.baseline import architecture

    folder, _ = folders["vit"]
    elsewhere = tmp_path / "runs" / "ft-step-900"
    shutil.copytree(folder, elsewhere)
    config = json.loads((elsewhere / "config.json").read_text())
    config["_name_or_path"] = "some/other-name"
    (elsewhere / "config.json").write_text(json.dumps(config))
    assert architecture(f"hf:{elsewhere}") == architecture(f"hf:{folder}")
    assert architecture(f"hf:{elsewhere}").startswith("hf:vit:")
    config["num_hidden_layers"] = 3
    (elsewhere / "config.json").write_text(json.dumps(config))
    assert architecture(f"hf:{elsewhere}") != architecture(f"hf:{folder}")
    assert architecture(f"hf:{folders['dinov2'][0]}") != architecture(f"hf:{folder}")


def _resnet_pair(root):
    """A base blind to fine detail (its stem sees local means) and a fine-tune of the same
    architecture whose stem is high-pass: a planted sharpening trace."""
    t = transformers
    config = t.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                            layer_type="basic")
    processor = t.ViTImageProcessor(do_resize=False, do_center_crop=True,
                                    crop_size={"height": 64, "width": 64},
                                    image_mean=[0.5] * 3, image_std=[0.5] * 3)
    torch.manual_seed(0)
    base, tuned = t.ResNetModel(config), t.ResNetModel(config)
    tuned.load_state_dict(base.state_dict())
    with torch.no_grad():
        stem = base.embedder.embedder.convolution.weight
        stem.copy_(torch.ones_like(stem) * torch.randn(stem.shape[0], 3, 1, 1) * 0.01)
        high = torch.randn_like(stem)
        tuned.embedder.embedder.convolution.weight.copy_(
            (high - high.mean(dim=(2, 3), keepdim=True)) * 0.5)
    return (_save(root / "base", base, processor),
            _save(root / "runs" / "ft-step-500", tuned, processor))


def test_the_gate_catches_a_fine_tune_folder_that_leaks_more_than_its_base(
        pytester, tmp_path, monkeypatch):
    """Both gates, the same-run base and a baseline file, on save_pretrained folders."""
    _offline_project(pytester, monkeypatch, "test_processing.py")
    base, tuned = _resnet_pair(pytester.path)
    common = ["audits", "-k", "sharpening", "-p", "no:cacheprovider", "--audit-max-images=60",
              f"--audit-cache-dir={tmp_path / 'cache'}", "--audit-report-dir=out"]

    def cases(spec):
        return [a["details"]["baseline"] for a in _results(pytester, spec)["audits"]]

    same_run = pytester.runpytest_inprocess(*common, f"--encoder=hf:{tuned}",
                                            f"--audit-base=hf:{base}")
    assert same_run.ret == 1
    assert {c["outcome"] for c in cases(f"hf:{tuned}")} == {"regression"}
    assert {c["pairing"] for c in cases(f"hf:{tuned}")} == {"paired"}

    baseline = pytester.path / "baselines" / "base.json"
    made = pytester.runpytest_inprocess(*common, f"--encoder=hf:{base}",
                                        f"--audit-baseline={baseline}", "--audit-update-baseline")
    assert made.ret in (0, 1) and baseline.is_file()
    # Another folder, same config.json: the baseline is its base, no mismatch.
    gated = pytester.runpytest_inprocess(*common, f"--encoder=hf:{tuned}",
                                         f"--audit-baseline={baseline}")
    assert gated.ret == 1, gated.stdout.str()
    outcomes = cases(f"hf:{tuned}")
    assert {c["outcome"] for c in outcomes} == {"regression"}
    assert not any(c.get("mismatches") for c in outcomes)
