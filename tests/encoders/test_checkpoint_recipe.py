"""The key-mapping recipe of docs/checkpoints.md builds an encoder that follows its checkpoint."""

import re
import sys
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

from auditkit.encoders import build_encoder

DOC = Path(__file__).resolve().parents[2] / "docs" / "checkpoints.md"


def test_the_recipe_loads_renamed_keys_and_fingerprints_the_file(tmp_path, monkeypatch):
    recipe = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    (tmp_path / "my_encoder.py").write_text(recipe)
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(1)
    trained = timm.create_model("resnet18", pretrained=False, num_classes=10)
    state = {f"backbone.{k}": v for k, v in trained.state_dict().items() if not k.startswith("fc.")}
    state["head.weight"] = trained.fc.weight.detach().clone()
    save_file(state, str(tmp_path / "checkpoints" / "ft.safetensors"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "my_encoder", raising=False)

    encoder = build_encoder("python:my_encoder:encoder")
    loaded = encoder.module.state_dict()
    assert torch.equal(loaded["conv1.weight"], trained.state_dict()["conv1.weight"])
    first = encoder.fingerprint
    monkeypatch.delitem(sys.modules, "my_encoder", raising=False)
    state["backbone.conv1.weight"] = state["backbone.conv1.weight"] * -1
    save_file(state, str(tmp_path / "checkpoints" / "ft.safetensors"))
    assert build_encoder("python:my_encoder:encoder").fingerprint != first
