import pytest

from auditkit.encoders.spec import ALIASES, EncoderSpec, parse_spec
from auditkit.errors import SpecError


@pytest.mark.parametrize(
    ("raw", "source", "name", "pretrained", "random", "weights"),
    [
        pytest.param("pixels", "pixels", "", "", False, None, id="builtin-baseline"),
        pytest.param("clip", "open_clip", "ViT-B-32", "openai", False, None, id="alias-clip"),
        pytest.param("random:clip", "open_clip", "ViT-B-32", "openai", True, None,
                     id="random-alias"),
        pytest.param("open_clip:RN50/openai", "open_clip", "RN50", "openai", False, None,
                     id="open-clip"),
        pytest.param("timm:resnet18", "timm", "resnet18", "", False, None, id="timm"),
        pytest.param("timm:vit_base_patch16_224.mae", "timm", "vit_base_patch16_224.mae", "", False,
                     None, id="timm-with-tag"),
        pytest.param("random:timm:resnet18", "timm", "resnet18", "", True, None, id="random-timm"),
        pytest.param("clip@ckpt/ft.safetensors", "open_clip", "ViT-B-32", "openai", False,
                     "ckpt/ft.safetensors", id="alias-with-weights"),
        pytest.param("timm:vit_base_patch16_224@ft.pth", "timm", "vit_base_patch16_224", "", False,
                     "ft.pth", id="timm-with-weights"),
        pytest.param("torchscript:model.pt", "torchscript", "model.pt", "", False, None,
                     id="torchscript"),
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


@pytest.mark.parametrize(
    ("raw", "control_raw", "control_canonical"),
    [
        pytest.param("clip", "random:clip", "random:open_clip:ViT-B-32/openai", id="alias"),
        pytest.param(" clip@ckpt/ft.pt ", "random:clip", "random:open_clip:ViT-B-32/openai",
                     id="fine-tune-of-alias"),
        pytest.param("timm:vit_base_patch16_224.mae@ft.pth", "random:timm:vit_base_patch16_224.mae",
                     "random:timm:vit_base_patch16_224.mae", id="fine-tune"),
        pytest.param("random:timm:resnet18", "random:timm:resnet18", "random:timm:resnet18",
                     id="control-is-its-own"),
    ],
)
def test_control_is_the_random_spec_of_the_base_architecture(raw, control_raw, control_canonical):
    control = parse_spec(raw).control()
    assert control is not None
    assert (control.raw, control.canonical) == (control_raw, control_canonical)
    assert control.random and control.weights_path is None
    assert parse_spec(control.raw) == control


@pytest.mark.parametrize("raw", ["pixels", "python:my.mod:make", "torchscript:model.pt"])
def test_sources_without_weights_have_no_control(raw):
    assert parse_spec(raw).control() is None


def test_without_weights_drops_only_the_path():
    spec = parse_spec("clip@ft.pt")
    assert spec.without_weights() == EncoderSpec(
        raw="clip@ft.pt", source="open_clip", name="ViT-B-32", pretrained="openai"
    )


def test_every_alias_states_the_input_its_library_configures():
    """``auditkit encoders`` shows each alias's resolution; it must be the real one."""
    import math
    import re

    import open_clip
    import timm

    from auditkit.encoders.packaged_weights import PACKAGES

    for name, alias in ALIASES.items():
        match = re.fullmatch(r"(\d+) px \((?:resize (\d+), crop (\d+)|resize to \d+ x \d+)\)",
                             alias.input)
        assert match, f"{name}: {alias.input!r}"
        size = int(match.group(1))
        target = parse_spec(alias.target)
        if target.source in ("timm", "package"):
            arch = target.name if target.source == "timm" else PACKAGES[target.name].arch
            cfg = timm.models.get_pretrained_cfg(arch)
            assert cfg.input_size[-1] == size, name
            assert int(match.group(2)) == math.floor(size / cfg.crop_pct), name
        elif target.source == "open_clip":
            assert open_clip.get_model_config(target.name)["vision_cfg"]["image_size"] == size
        else:
            # facebook/dinov2-base's preprocessor_config.json: shortest edge 256, crop 224.
            assert (name, alias.input) == ("dinov2", "224 px (resize 256, crop 224)")


@pytest.mark.parametrize(
    ("raw", "base", "canonical"),
    [
        pytest.param("pixels+erase:e.safetensors", "pixels", "pixels+erase:e.safetensors",
                     id="builtin"),
        pytest.param("clip@ft.pt+erase:out/e.safetensors", "clip@ft.pt",
                     "open_clip:ViT-B-32/openai@ft.pt+erase:out/e.safetensors", id="weights"),
    ],
)
def test_an_eraser_comes_last_and_enters_the_canonical_spec(raw, base, canonical):
    spec = parse_spec(raw)
    assert spec.erase_path == raw.partition("+erase:")[2]
    assert spec.canonical == canonical
    assert spec.without_eraser() == parse_spec(base)
    assert parse_spec(base).erase_path is None


def test_the_control_of_an_erased_spec_is_its_base_architectures():
    control = parse_spec("clip@ft.pt+erase:e.safetensors").control()
    assert control is not None and control.raw == "random:clip"
    assert control.erase_path is None and control.weights_path is None


@pytest.mark.parametrize("raw", ["pixels+erase:", "+erase:e.safetensors",
                                 "pixels+erase:a.safetensors+erase:b.safetensors"])
def test_a_malformed_eraser_is_refused(raw):
    with pytest.raises(SpecError, match="eraser"):
        parse_spec(raw)
