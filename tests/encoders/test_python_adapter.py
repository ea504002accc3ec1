"""``python:`` encoders: fingerprints that follow the weights, and a clean ``sys.path``."""

import json
import logging
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from auditkit.encoders import build_encoder
from auditkit.errors import ConfigError

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.list_models("resnet*")

IMAGES = [Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("RGB", (31, 50), (0, 90, 250))]

#: A user's module: encoders whose weights live in a file of the working directory.
WEIGHTED = '''
import numpy as np
import torch

from auditkit.encoders.base import Encoder
from auditkit.encoders.planted import TracePlantedEncoder


class FromFile:
    """Leaks processing traces in proportion to the strength stored in strength.npy."""
    weights_files = ["strength.npy"]

    def __init__(self):
        self.planted = TracePlantedEncoder(strength=float(np.load("strength.npy")), size=4)

    def embed(self, images):
        return self.planted.embed(images)


class FromStateDict:
    """The same, the strength being the one weight of a torch module loaded from strength.pt."""

    def __init__(self):
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.model.load_state_dict(torch.load("strength.pt", weights_only=True))
        self.planted = TracePlantedEncoder(strength=float(self.model.weight.item()), size=4)

    def embed(self, images):
        return self.planted.embed(images)


class Bare(FromFile):
    """Reads the same file but does not say so: nothing to fingerprint."""
    weights_files = ()


class Folder(FromFile):
    weights_files = ["ckpt"]


class Missing(FromFile):
    weights_files = ["nowhere.npy"]


class OwnFingerprint(Bare):
    fingerprint = "strength-v1"


class MeanColour(Encoder):
    """A user's auditkit Encoder holding a torch module and saying nothing of its weights."""

    def __init__(self):
        self.module = torch.nn.Linear(1, 1, bias=False)
        self.module.load_state_dict(torch.load("strength.pt", weights_only=True))

    def preprocess(self, image):
        return np.asarray(image, dtype=np.float32).mean(axis=(0, 1))

    def embed_batch(self, batch):
        return np.asarray(batch, dtype=np.float32) * float(self.module.weight.item())


class ParameterFree(MeanColour):
    def __init__(self):
        self.scale = float(np.load("strength.npy"))

    def embed_batch(self, batch):
        return np.asarray(batch, dtype=np.float32) * self.scale


class InPlace(FromFile):
    """Shrinks the images it is handed in place, as ``Image.thumbnail`` does."""

    def embed(self, images):
        for image in images:
            image.thumbnail((4, 4))
        return self.planted.embed(images)


def from_file():
    return FromFile()

def in_place():
    return InPlace()

def from_state_dict():
    return FromStateDict()

def bare():
    return Bare()

def folder():
    return Folder()

def missing():
    return Missing()

def own_fingerprint():
    return OwnFingerprint()

def mean_colour():
    return MeanColour()

def parameter_free():
    return ParameterFree()
'''


def set_strength(root: Path, strength: float) -> None:
    """Write the weights both encoders load: ``strength.npy`` and ``strength.pt``."""
    np.save(root / "strength.npy", np.float32(strength))
    torch.save({"weight": torch.full((1, 1), float(strength))}, root / "strength.pt")


@pytest.fixture
def weighted(tmp_path, monkeypatch):
    """The user's module in the working directory, importable only from there."""
    (tmp_path / "weighted.py").write_text(WEIGHTED)
    set_strength(tmp_path, 0.0)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("weighted", None)


def test_import_leaves_sys_path_as_it_was(weighted):
    before = list(sys.path)
    build_encoder("python:weighted:from_file")
    assert sys.path == before
    assert "weighted" in sys.modules


@pytest.mark.parametrize("factory", ["from_file", "from_state_dict", "mean_colour"])
def test_fingerprint_follows_the_weights(weighted, factory):
    first = build_encoder(f"python:weighted:{factory}")
    again = build_encoder(f"python:weighted:{factory}")
    set_strength(weighted, 2.0)
    changed = build_encoder(f"python:weighted:{factory}")
    assert first.fingerprint == again.fingerprint != changed.fingerprint
    assert first.cacheable and changed.cacheable
    assert first.weights_sha256 and first.weights_sha256 != changed.weights_sha256


def test_weights_folder_is_hashed_file_by_file(weighted):
    (weighted / "ckpt" / "sub").mkdir(parents=True)
    (weighted / "ckpt" / "sub" / "model.safetensors").write_bytes(b"one")
    first = build_encoder("python:weighted:folder").fingerprint
    (weighted / "ckpt" / "sub" / "model.safetensors").write_bytes(b"two")
    assert build_encoder("python:weighted:folder").fingerprint != first


def test_missing_weights_file_is_named(weighted):
    with pytest.raises(ConfigError, match=r"'nowhere.npy'.*weights_files of 'python:weighted"):
        build_encoder("python:weighted:missing")


def test_own_fingerprint_is_used_as_given(weighted):
    first = build_encoder("python:weighted:own_fingerprint")
    set_strength(weighted, 2.0)
    assert first.cacheable
    assert build_encoder("python:weighted:own_fingerprint").fingerprint == first.fingerprint


@pytest.mark.parametrize("factory", ["bare", "parameter_free"])
def test_without_weights_to_hash_nothing_is_stored(weighted, factory):
    encoder = build_encoder(f"python:weighted:{factory}")
    assert not encoder.cacheable
    assert "weights_files" in encoder.unstorable_reason
    assert encoder.embed(IMAGES).shape[0] == 2


def _project(pytester, tmp_path):
    pytester.makepyfile(**{"audits/test_jpeg_quality": (
        Path(__file__).resolve().parents[2] / "audits" / "test_jpeg_quality.py").read_text()})
    pytester.makepyfile(weighted=WEIGHTED)
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        [tool.auditkit.thresholds.jpeg_quality]
        max_leakage = [0.1, 0.3]
    """))
    cache = tmp_path / "cache"

    def run(spec):
        pytester.runpytest_inprocess(
            "audits", "-p", "no:cacheprovider", "--audit-max-images=24",
            f"--audit-cache-dir={cache}", "--audit-report-dir=out", f"--encoder={spec}")
        slug = spec.replace(":", "_")
        return json.loads((pytester.path / "out" / slug / "results.json").read_text())

    return run, cache


def test_new_weights_are_measured_anew_with_the_cache_on(pytester, tmp_path):
    # A torch module loaded from a file, as a transformers fine-tune is; the
    # weights_files route is held to the same rule above, on its fingerprint.
    run, _ = _project(pytester, tmp_path)
    set_strength(pytester.path, 0.0)
    before = run("python:weighted:from_state_dict")
    set_strength(pytester.path, 3.0)
    after = run("python:weighted:from_state_dict")
    assert after["provenance"]["measurements_reused"] == []
    assert after["provenance"]["extraction"]["computed"] > 0
    assert after["audits"][0]["value"] > before["audits"][0]["value"] + 0.1
    # The cache is on: the same weights again are read back.
    again = run("python:weighted:from_state_dict")
    assert again["provenance"]["measurements_reused"] == ["jpeg_quality"]
    assert again["audits"][0]["value"] == after["audits"][0]["value"]


def test_unfingerprintable_encoder_stores_nothing_and_says_so_once(pytester, tmp_path, caplog):
    run, cache = _project(pytester, tmp_path)
    set_strength(pytester.path, 0.0)
    with caplog.at_level(logging.WARNING, logger="auditkit"):
        doc = run("python:weighted:bare")
    assert doc["audits"] and doc["audits"][0]["verdict"] in {"pass", "fail", "inconclusive"}
    assert not [p for p in cache.rglob("*") if p.is_file()]
    warnings = [r.getMessage() for r in caplog.records if "not stored" in r.getMessage()]
    assert len(warnings) == 1 and "weights_files" in warnings[0]
    assert "weights_files" in doc["encoder"]["not_stored"]


def test_workers_receive_the_image_step_not_the_users_object(weighted):
    import pickle

    encoder = build_encoder("python:weighted:from_state_dict")
    assert len(pickle.dumps(encoder)) > 1000  # the user's object and its module
    assert len(pickle.dumps(encoder.preprocessor)) < 200
    assert encoder.preprocessor(IMAGES[0]) is IMAGES[0]


def test_an_encoder_that_edits_its_images_leaves_the_kept_ones_alone(weighted):
    """The images a run keeps for every encoder (decoded, and each variant) reach
    ``embed`` as copies: one user's in-place edit never changes another's input."""
    from auditkit.backends import LocalBackend, Work
    from auditkit.backends.decoded import DecodedImages
    from auditkit.data import builtin_probe_set
    from auditkit.transforms.quality import jpeg_grid

    images = builtin_probe_set(seed=0, max_images=6).images
    variants = (jpeg_grid()[0], jpeg_grid()[1])
    work = [Work(im, tuple((f"{im.id}{v.id}", v) for v in variants), seed=0) for im in images]
    shared = DecodedImages()
    editor = LocalBackend(batch_size=4, num_workers=0, decoded=shared)
    assert sum(len(b.keys) for b in editor.compute(build_encoder("python:weighted:in_place"),
                                                  work)) == 12
    pixels = build_encoder("pixels")
    after = np.concatenate([b.vectors for b in LocalBackend(
        batch_size=4, num_workers=0, decoded=shared).compute(pixels, work)])
    alone = np.concatenate([b.vectors for b in LocalBackend(
        batch_size=4, num_workers=0).compute(pixels, work)])
    np.testing.assert_array_equal(after, alone)
