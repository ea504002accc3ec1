"""``export:`` (torch.export) and ``onnx:`` (onnxruntime): deployment files, audited as shipped."""

import json
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from auditkit.encoders import build_encoder
from auditkit.errors import AuditkitError, ConfigError

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

IMAGES = [Image.new("RGB", (70, 50), (200, 20, 40)), Image.new("RGB", (40, 60), (10, 90, 250))]
SIDECAR = {"input_size": [3, 64, 64], "crop_pct": 0.875, "interpolation": "bilinear",
           "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False, num_classes=0).eval()


def _write_sidecar(path, config=SIDECAR):
    path.with_name(path.name + ".json").write_text(json.dumps(config))


def _exported(model, path, dynamic=True):
    x = torch.randn(2, 3, 64, 64)
    shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic else None
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=shapes), str(path))
    return path


def _onnx(model, path, dynamic=True):
    pytest.importorskip("onnx")
    x = torch.randn(1, 3, 64, 64)
    axes = {"pixels": {0: "batch"}, "embedding": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        # The dynamo exporter needs onnxscript; the legacy one makes the same graph here.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (x,), str(path), input_names=["pixels"],
                          output_names=["embedding"], dynamic_axes=axes, dynamo=False)
    return path


def _expected(model, encoder):
    batch = torch.stack([encoder.preprocess(im) for im in IMAGES])
    with torch.no_grad():
        return model(batch).numpy()


@pytest.mark.parametrize("kind", ["export", "onnx"])
def test_embeds_as_the_model_does(model, tmp_path, kind):
    if kind == "onnx":
        pytest.importorskip("onnxruntime")
        path = _onnx(model, tmp_path / "m.onnx")
    else:
        path = _exported(model, tmp_path / "m.pt2")
    _write_sidecar(path)
    encoder = build_encoder(f"{kind}:{path}")
    assert encoder.preprocess(IMAGES[0]).shape == (3, 64, 64)
    np.testing.assert_allclose(encoder.embed(IMAGES), _expected(model, encoder), atol=1e-4)
    assert encoder.cacheable and encoder.weights_sha256


@pytest.mark.parametrize("kind", ["export", "onnx"])
def test_fingerprint_follows_file_bytes_and_sidecar(model, tmp_path, kind):
    if kind == "onnx":
        pytest.importorskip("onnxruntime")
        make = _onnx
        path = tmp_path / "m.onnx"
    else:
        make = _exported
        path = tmp_path / "m.pt2"
    make(model, path)
    _write_sidecar(path)
    first = build_encoder(f"{kind}:{path}").fingerprint
    _write_sidecar(path, {**SIDECAR, "crop_pct": 1.0})
    second = build_encoder(f"{kind}:{path}").fingerprint
    other = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    make(other, path)
    third = build_encoder(f"{kind}:{path}").fingerprint
    assert len({first, second, third}) == 3


@pytest.mark.parametrize("suffix", ["pt2", "onnx"])
def test_missing_sidecar_says_what_to_write(model, tmp_path, suffix):
    kind = "export" if suffix == "pt2" else "onnx"
    if kind == "onnx":
        pytest.importorskip("onnxruntime")
        path = _onnx(model, tmp_path / "m.onnx")
    else:
        path = _exported(model, tmp_path / "m.pt2")
    with pytest.raises(ConfigError, match=rf"m\.{suffix}\.json.*input_size"):
        build_encoder(f"{kind}:{path}")


def test_onnx_with_a_fixed_batch_of_one_runs_image_by_image(model, tmp_path):
    pytest.importorskip("onnxruntime")
    path = _onnx(model, tmp_path / "fixed.onnx", dynamic=False)
    _write_sidecar(path)
    encoder = build_encoder(f"onnx:{path}")
    np.testing.assert_allclose(encoder.embed(IMAGES), _expected(model, encoder), atol=1e-4)


def test_onnx_encoder_pickles_without_its_session(model, tmp_path):
    import pickle

    pytest.importorskip("onnxruntime")
    path = _onnx(model, tmp_path / "m.onnx")
    _write_sidecar(path)
    encoder = build_encoder(f"onnx:{path}")
    clone = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_allclose(clone.embed(IMAGES), encoder.embed(IMAGES), atol=1e-6)


@pytest.mark.parametrize("spec", ["random:export:m.pt2", "onnx:m.onnx@w.safetensors"])
def test_random_and_weights_do_not_apply(spec):
    with pytest.raises(AuditkitError, match=r"no weights|carries its own weights|does not apply"):
        build_encoder(spec)


@pytest.mark.parametrize(("spec", "extra"), [("onnx:m.onnx", "pytest-auditkit[onnx]"),
                                             ("hf:./folder", "pytest-auditkit[hf]")])
def test_without_the_optional_package_the_error_names_the_extra(monkeypatch, spec, extra):
    import sys

    # None in sys.modules makes the import fail, as on an install without the extra.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(AuditkitError, match=re.escape(extra)):
        build_encoder(spec)
