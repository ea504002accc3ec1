import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from auditkit.encoders import LoadOptions, build_encoder, list_aliases
from auditkit.encoders import weights as weights_mod
from auditkit.errors import SpecError, WeightsUnavailableError

IMAGES = [Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("RGB", (31, 50), (0, 90, 250))]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("timm:resnt18", "Did you mean: resnet18", id="timm-typo"),
        pytest.param("open_clip:ViT-B-32/opena", "Did you mean: openai", id="open-clip-tag-typo"),
        pytest.param("open_clip:ViT-B-3/openai", "Did you mean: ViT-B-32",
                     id="open-clip-arch-typo"),
        pytest.param("timm:resnet18.nonexistent_tag", "no pretrained weights", id="timm-bad-tag"),
        pytest.param("random:pixels", "no weights", id="pixels-has-no-weights"),
    ],
)
def test_unknown_names_list_close_matches(spec, expected):
    with pytest.raises(SpecError, match=expected):
        build_encoder(spec)


def test_random_control_is_seeded_and_fingerprinted():
    a = build_encoder("random:timm:resnet18", LoadOptions(seed=0))
    b = build_encoder("random:timm:resnet18", LoadOptions(seed=0))
    c = build_encoder("random:timm:resnet18", LoadOptions(seed=1))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    np.testing.assert_allclose(a.embed(IMAGES), b.embed(IMAGES), rtol=1e-5)
    assert a.embed(IMAGES).shape == (2, 512)


@pytest.fixture
def hub_unreachable(monkeypatch, tmp_path):
    """No cached files and no network: the situation on a machine without the hub."""
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.parametrize("spec", ["clip", "siglip", "dinov2", "mae", "resnet50"])
def test_missing_weights_give_one_clear_message(spec, hub_unreachable, monkeypatch):
    import huggingface_hub

    # A download attempt would be a bug: the cache lookup must be local only.
    def no_download(*args, **kwargs):
        if not kwargs.get("local_files_only"):
            raise AssertionError("tried to download")
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    with pytest.raises(WeightsUnavailableError) as info:
        build_encoder(spec, LoadOptions(cache_dir=str(hub_unreachable)))
    message = str(info.value)
    assert repr(spec) in message or "encoder" in message
    assert "looked for: hub repo" in message
    assert str(hub_unreachable) in message
    assert "HF_HUB_OFFLINE" in message and "@path/to/weights" in message
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_weights_from_local_path_load_into_architecture(tmp_path):
    import torch
    from safetensors.torch import save_file

    base = build_encoder("random:timm:resnet18", LoadOptions(seed=3))
    path = tmp_path / "ft.safetensors"
    save_file({k: v.contiguous() for k, v in base.module.state_dict().items()}, str(path))
    loaded = build_encoder(f"timm:resnet18@{path}")
    np.testing.assert_allclose(loaded.embed(IMAGES), base.embed(IMAGES), rtol=1e-5, atol=1e-6)
    assert loaded.weights_source == str(path)
    # Same architecture, other weights: another fingerprint, so the cache misses.
    pth = tmp_path / "other.pth"
    torch.save(build_encoder("random:timm:resnet18", LoadOptions(seed=4)).module.state_dict(), pth)
    assert build_encoder(f"timm:resnet18@{pth}").fingerprint != loaded.fingerprint


def test_weights_that_do_not_fit_are_named(tmp_path):
    import torch

    path = tmp_path / "wrong.pth"
    torch.save({"foo.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsUnavailableError, match="do not fit the architecture"):
        build_encoder(f"timm:resnet18@{path}")


def test_pickle_with_payload_is_refused(tmp_path):
    import pickle

    from auditkit.errors import UnsafeCheckpointError

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        build_encoder(f"timm:resnet18@{path}")


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_encoders.py").write_text(textwrap.dedent("""
        import numpy as np

        class MeanColour:
            fingerprint = "mean-colour-v1"
            def embed(self, images):
                return np.stack([np.asarray(im, dtype=np.float32).mean(axis=(0, 1))
                                 for im in images])

        def make():
            return MeanColour()

        def no_embed():
            return object()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_encoders"
    sys.modules.pop("my_encoders", None)


def test_python_spec_wraps_user_factory(user_module):
    enc = build_encoder(f"python:{user_module}:make")
    out = enc.embed(IMAGES)
    np.testing.assert_allclose(out[0], [200, 10, 10])
    assert enc.fingerprint != build_encoder("pixels").fingerprint


@pytest.mark.parametrize(
    ("factory", "expected"),
    [("missing", "has no callable 'missing'"), ("no_embed", "neither an auditkit Encoder")],
)
def test_python_spec_errors(user_module, factory, expected):
    with pytest.raises(SpecError, match=expected):
        build_encoder(f"python:{user_module}:{factory}")


def test_torchscript_spec(tmp_path):
    import torch

    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    path = tmp_path / "m.pt"
    with pytest.warns(FutureWarning, match="deprecated"):  # TorchScript is deprecated in torch 2.14
        torch.jit.script(model).save(str(path))
    enc = build_encoder(f"torchscript:{path}")
    assert enc.embed(IMAGES).shape == (2, 3)


def test_list_aliases_describes_each():
    rows = list_aliases()
    assert {"clip", "dinov2", "mae", "siglip"} <= {r[0] for r in rows}
    assert all(target and description for _, target, description in rows)


#: Fingerprints computed before the sources owned their grammar (issue 11): every
#: cache key built since must still hit.
PINNED_FINGERPRINTS = {
    "pixels": "0931b6643b35df1ccd0005f39520003b95f7f0a07cb378783a644f153467d676",
    "random:timm:resnet18": "968c68f393c98e37b662ef1578843b72065cb455919e52fbad48cf592dc1ccad",
    "random:open_clip:RN50/openai": (
        "f299c881d3a6da8150c847d64bc44a7d802e7bfef1f13f717f8b6d79055f86ea"
    ),
}
PYTHON_FINGERPRINT = "8bd3810013ca8fc9acd3f5b6f6bf13faff3d1398a327ede0e29f68f23b28323c"
TORCHSCRIPT_PREPROCESSING = [
    "d9384b1088405b4c053e93af4e94d252a2be6b228a46957ca0c998fccd1a5007",
    "5edb1fefec6b8f9ead89e0f7813e2ac47318c9e19548ab492692d0e2aae29c5b",
]


@pytest.mark.parametrize("spec", sorted(PINNED_FINGERPRINTS))
def test_fingerprints_are_pinned(spec):
    assert build_encoder(spec, LoadOptions(seed=0)).fingerprint == PINNED_FINGERPRINTS[spec]


def test_python_and_torchscript_fingerprints_are_pinned(user_module, tmp_path):
    import torch

    from auditkit.encoders.base import stable_hash

    assert build_encoder(f"python:{user_module}:make").fingerprint == PYTHON_FINGERPRINT
    path = tmp_path / "m.pt"
    with pytest.warns(FutureWarning, match="deprecated"):
        torch.jit.script(torch.nn.Flatten()).save(str(path))
    # The file's bytes vary with torch; the preprocessing part must not.
    default = build_encoder(f"torchscript:{path}").describe_preprocessing()
    sidecar_config = '{"input_size": [3, 160, 160], "interpolation": "bilinear"}'
    (tmp_path / "m.pt.json").write_text(sidecar_config)
    sidecar = build_encoder(f"torchscript:{path}").describe_preprocessing()
    assert [stable_hash(default), stable_hash(sidecar)] == TORCHSCRIPT_PREPROCESSING


def test_a_ddp_checkpoint_with_its_classifier_head_loads(tmp_path):
    """DataParallel / DDP save every key under ``module.``, the head included."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(5)
    full = timm.create_model("resnet18", pretrained=False, num_classes=10)
    wrapped = {f"module.{k}": v.contiguous() for k, v in full.state_dict().items()}
    path = tmp_path / "ddp.safetensors"
    save_file(wrapped, str(path))
    encoder = build_encoder(f"timm:resnet18@{path}")
    headless = timm.create_model("resnet18", pretrained=False, num_classes=0)
    headless.load_state_dict({k: v for k, v in full.state_dict().items()
                              if not k.startswith("fc.")})
    expected = headless.eval()(encoder.preprocess(IMAGES[0])[None]).detach().numpy()
    np.testing.assert_allclose(encoder.embed(IMAGES[:1]), expected, atol=1e-5)


def test_a_key_mismatch_names_the_way_out(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"backbone.w": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsUnavailableError, match=r"rename the keys.*python:MODULE:FACTORY"):
        build_encoder(f"timm:resnet18@{path}")
