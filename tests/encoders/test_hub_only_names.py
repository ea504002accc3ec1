"""``timm:hf-hub:`` and ``open_clip:hf-hub:``: hub-only names, read from the hub cache."""

import json

import numpy as np
import pytest
from PIL import Image

from auditkit.encoders import LoadOptions, build_encoder, parse_spec
from auditkit.encoders import weights as weights_mod
from auditkit.errors import WeightsUnavailableError

IMAGE = Image.new("RGB", (50, 40), (120, 30, 200))


def _snapshot(cache, repo):
    """An empty snapshot folder of ``repo`` in a hub cache laid out as huggingface_hub's."""
    owner, name = repo.split("/")
    root = cache / f"models--{owner}--{name}"
    revision = "a" * 40
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(revision)
    snap = root / "snapshots" / revision
    snap.mkdir(parents=True)
    return snap


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda timeout=3.0: False)


def test_timm_hub_only_name_loads_from_the_cache(tmp_path, offline):
    import timm
    from timm.models._hub import save_for_hf

    snap = _snapshot(tmp_path, "timm/resnet18.someone_ft")
    model = timm.create_model("resnet18", pretrained=False)
    save_for_hf(model, str(snap), safe_serialization=True)
    spec = "timm:hf-hub:timm/resnet18.someone_ft"
    assert parse_spec(spec).name == "hf-hub:timm/resnet18.someone_ft"
    encoder = build_encoder(spec, LoadOptions(cache_dir=str(tmp_path)))
    assert encoder.weights_source.endswith("model.safetensors")
    headless = timm.create_model("resnet18", pretrained=False, num_classes=0)
    headless.load_state_dict({k: v for k, v in model.state_dict().items()
                              if not k.startswith("fc.")})
    expected = headless.eval()(encoder.preprocess(IMAGE)[None]).detach().numpy()
    np.testing.assert_allclose(encoder.embed([IMAGE]), expected, atol=1e-5)
    control = build_encoder(f"random:{spec}", LoadOptions(cache_dir=str(tmp_path)))
    assert control.fingerprint != encoder.fingerprint
    assert control.weights_source == "random init, seed 0"


def test_open_clip_hub_only_name_loads_from_the_cache(tmp_path, offline):
    import open_clip
    from safetensors.torch import save_file

    snap = _snapshot(tmp_path, "someone/tiny-clip")
    config = {"model_cfg": open_clip.get_model_config("ViT-B-32"),
              "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    (snap / "open_clip_config.json").write_text(json.dumps(config))
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(snap / "open_clip_model.safetensors"))
    spec = "open_clip:hf-hub:someone/tiny-clip"
    encoder = build_encoder(spec, LoadOptions(cache_dir=str(tmp_path)))
    assert "Normalize(mean=[0.5, 0.5, 0.5]" in encoder.describe_preprocessing()
    expected = model.visual.eval()(encoder.preprocess(IMAGE)[None]).detach().numpy()
    np.testing.assert_allclose(encoder.embed([IMAGE]), expected, atol=1e-5)


@pytest.mark.parametrize("spec", ["timm:hf-hub:timm/not-cached", "open_clip:hf-hub:x/not-cached"])
def test_uncached_hub_only_name_gives_the_one_clear_message(spec, tmp_path, offline):
    with pytest.raises(WeightsUnavailableError) as info:
        build_encoder(spec, LoadOptions(cache_dir=str(tmp_path)))
    message = str(info.value)
    assert "looked for: hub repo" in message and "HF_HUB_OFFLINE is set" in message
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_hub_only_repo_without_safetensors_is_refused(tmp_path, offline):
    import timm
    from timm.models._hub import save_for_hf

    snap = _snapshot(tmp_path, "timm/resnet18.pickled")
    save_for_hf(timm.create_model("resnet18", pretrained=False), str(snap))  # a .bin only
    with pytest.raises(WeightsUnavailableError, match="safetensors"):
        build_encoder("timm:hf-hub:timm/resnet18.pickled", LoadOptions(cache_dir=str(tmp_path)))
