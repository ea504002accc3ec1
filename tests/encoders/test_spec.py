import pytest

from auditkit.encoders.spec import ALIASES, parse_spec
from auditkit.errors import SpecError


@pytest.mark.parametrize(
    ("raw", "source", "name", "pretrained", "random", "weights"),
    [
        pytest.param("pixels", "pixels", "", "", False, None, id="builtin-baseline"),
        pytest.param("clip", "open_clip", "ViT-B-32", "openai", False, None, id="alias-clip"),
        pytest.param("random:clip", "open_clip", "ViT-B-32", "openai", True, None, id="random-alias"),
        pytest.param("open_clip:RN50/openai", "open_clip", "RN50", "openai", False, None, id="open-clip"),
        pytest.param("timm:resnet18", "timm", "resnet18", "", False, None, id="timm"),
        pytest.param("timm:vit_base_patch16_224.mae", "timm", "vit_base_patch16_224.mae", "", False,
                     None, id="timm-with-tag"),
        pytest.param("random:timm:resnet18", "timm", "resnet18", "", True, None, id="random-timm"),
        pytest.param("clip@ckpt/ft.safetensors", "open_clip", "ViT-B-32", "openai", False,
                     "ckpt/ft.safetensors", id="alias-with-weights"),
        pytest.param("timm:vit_base_patch16_224@ft.pth", "timm", "vit_base_patch16_224", "", False,
                     "ft.pth", id="timm-with-weights"),
        pytest.param("torchscript:model.pt", "torchscript", "model.pt", "", False, None, id="torchscript"),
        pytest.param("python:my.mod:make", "python", "my.mod:make", "", False, None, id="python"),
    ],
)
def test_parse_spec(raw, source, name, pretrained, random, weights):
    spec = parse_spec(raw)
    assert (spec.source, spec.name, spec.pretrained, spec.random, spec.weights_path) == (
        source, name, pretrained, random, weights
    )
    assert spec.raw == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("clipp", "Did you mean: clip", id="typo-of-alias-names-close-match"),
        pytest.param("tim:resnet18", "Did you mean: timm", id="typo-of-source"),
        pytest.param("", "empty", id="empty"),
        pytest.param("timm:", "names no model", id="source-without-model"),
        pytest.param("clip@", "ends with '@'", id="dangling-at"),
        pytest.param("random:clip@x.pt", "random weights and a weights file", id="random-and-path"),
        pytest.param("python:nomodule", "malformed", id="python-without-factory"),
    ],
)
def test_bad_specs_name_the_problem(raw, expected):
    with pytest.raises(SpecError, match=expected):
        parse_spec(raw)


def test_canonical_resolves_aliases():
    assert parse_spec("clip").canonical == "open_clip:ViT-B-32/openai"
    assert parse_spec("random:clip").canonical == "random:open_clip:ViT-B-32/openai"


def test_papers_encoders_have_aliases():
    for name in ("clip", "dinov2", "mae", "siglip", "vit", "resnet50"):
        assert name in ALIASES
        parse_spec(ALIASES[name].target)
