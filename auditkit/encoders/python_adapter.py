"""``python:MODULE:FACTORY``: an encoder written by the user.

This imports and runs the user's code: ``MODULE`` is imported (from the
working directory first, which leaves ``sys.path`` as it was) and
``FACTORY()`` is called. The factory returns either an auditkit
:class:`Encoder` or any object with ``embed(images: list[PIL.Image.Image])
-> array (N, D)``.

Such an object resizes and crops the images itself, so the masked control
can only blank the centre of what its model sees if it says what that is: an
``input_geometry`` attribute, an :class:`~auditkit.encoders.geometry.InputGeometry`
or a mapping such as ``{"resize": 256, "crop": 224}``. Without it the mask is
drawn on the whole image and the card says that the border fraction reaching
the model is unknown.

Cached embeddings and stored measurements are found by the encoder's
fingerprint, so the fingerprint must change whenever the weights do. Beside
the spec (and, for an ``embed`` object, the module's source) it covers the
first of these the factory's object offers:

1. its own ``fingerprint`` string, used as given: it must change when the
   weights change (put the checkpoint's hash or revision in it);
2. the weights it runs: the hashed state dict of every torch module the
   object is or holds as an attribute (``self.model = AutoModel.from_pretrained(...)``),
   and the bytes of every file or folder it lists in ``weights_files``.

An auditkit :class:`Encoder` that sets ``weights_sha256`` or its own
``fingerprint`` is taken as it is. When none of these can be had, the
fingerprint cannot follow the weights: the encoder is marked unstorable, and
its embeddings and measurements are computed afresh on every run.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from auditkit.encoders.base import Encoder, stable_hash
from auditkit.encoders.geometry import InputGeometry
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec
from auditkit.encoders.weights import file_sha256, state_dict_sha256
from auditkit.errors import ConfigError, SpecError


def _unchanged(image: Image.Image) -> Image.Image:
    return image


class CallableEncoder(Encoder):
    """Adapts an object with ``embed(list[PIL.Image]) -> (N, D)`` to :class:`Encoder`."""

    post_on_image = True

    def __init__(self, spec: str, obj: Any, fingerprint: str) -> None:
        self.spec = spec
        self.obj = obj
        self._fingerprint = fingerprint
        self.weights_source = f"user code {type(obj).__module__}.{type(obj).__qualname__}"
        self.default_batch_size = int(getattr(obj, "batch_size", 32))
        # What the object's own resize and crop keep of the image, if it says.
        self.input_geometry = InputGeometry.coerce(getattr(obj, "input_geometry", None), spec)

    def preprocess(self, image: Image.Image) -> Image.Image:
        return image

    @property
    def preprocessor(self) -> Callable[[Image.Image], Image.Image]:
        # The image as it is: workers need none of the user's object.
        return _unchanged

    def collate(self, items: Any) -> list[Image.Image]:
        # Copies: the run keeps decoded images and variants for every encoder
        # (auditkit.backends.decoded), and a user's embed() may edit its
        # input in place (Image.thumbnail does).
        return [image.copy() for image in items]

    def embed_batch(self, batch: list[Image.Image]) -> np.ndarray:
        out = np.asarray(self.obj.embed(batch), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(batch):
            raise ConfigError(
                f"{self.spec!r}: embed() returned shape {out.shape!r} for {len(batch)} images, "
                "expected (N, D)"
            )
        return out

    @property
    def fingerprint(self) -> str:
        if self.input_geometry is None:
            return self._fingerprint
        # The declaration places the masked control's mask: an object's own
        # fingerprint string need not change with it, so it is folded in here.
        return stable_hash(self._fingerprint, self.input_geometry.as_params())


def _module_and_factory(rest: str) -> tuple[str, str] | None:
    module, colon, factory = rest.rpartition(":")
    return (rest, "") if colon and module and factory else None


@register_source(
    "python", form="python:MODULE:FACTORY", parse=_module_and_factory, weights=False
)
def build_python(spec: EncoderSpec, options: LoadOptions) -> Encoder:
    module_name, _, factory_name = spec.name.rpartition(":")
    if spec.random or spec.weights_path:
        raise ConfigError(
            f"spec {spec.raw!r}: 'random:' and '@PATH' do not apply to python: encoders; "
            "handle weights inside your factory"
        )
    with _working_directory_importable():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SpecError(
                f"cannot import module {module_name!r} of spec {spec.raw!r}: {exc}. "
                "The module must be importable from the current directory or sys.path."
            ) from exc
        factory = getattr(module, factory_name, None)
        if not callable(factory):
            names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
            raise SpecError(
                f"module {module_name!r} has no callable {factory_name!r} (spec {spec.raw!r}); "
                f"callables there: {', '.join(sorted(names)) or 'none'}"
            )
        # The factory may import more of the user's project: still importable here.
        obj = factory()
    if isinstance(obj, Encoder):
        obj.spec = obj.spec or spec.canonical
        obj.input_geometry = InputGeometry.coerce(obj.input_geometry, spec.raw)
        return _user_encoder(obj, spec)
    if not callable(getattr(obj, "embed", None)):
        raise SpecError(
            f"factory {spec.name!r} returned {type(obj).__name__}, which is neither an "
            "auditkit Encoder nor an object with embed(images) -> (N, D)"
        )
    own = getattr(obj, "fingerprint", None)
    if isinstance(own, str) and own:
        fingerprint = stable_hash("python-encoder", spec.canonical, own)
        return CallableEncoder(spec.canonical, obj, fingerprint)
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        source = module_name
    weights = _weights_digest(obj, spec)
    encoder = CallableEncoder(
        spec.canonical, obj, stable_hash("python-encoder", spec.canonical, source, weights)
    )
    encoder.weights_sha256 = weights
    if weights is None:
        encoder.unstorable_reason = _no_weights_reason(obj, spec)
    return encoder


@contextlib.contextmanager
def _working_directory_importable() -> Iterator[None]:
    """Put the working directory first on ``sys.path`` while the user's code loads.

    Users name modules of their own project; left there for the rest of the
    run, the entry would let any file in the working directory shadow an
    installed module imported later.
    """
    cwd = str(Path.cwd())
    inserted = cwd not in sys.path
    if inserted:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if inserted and cwd in sys.path:
            sys.path.remove(cwd)


def _user_encoder(encoder: Encoder, spec: EncoderSpec) -> Encoder:
    """Make a user's :class:`Encoder`'s fingerprint cover its weights, or mark it unstorable."""
    if encoder.weights_sha256 is not None or type(encoder).fingerprint is not Encoder.fingerprint:
        return encoder
    encoder.weights_sha256 = _weights_digest(encoder, spec)
    if encoder.weights_sha256 is None:
        encoder.unstorable_reason = _no_weights_reason(encoder, spec)
    return encoder


def _weights_digest(obj: Any, spec: EncoderSpec) -> str | None:
    """Hash of the torch modules ``obj`` is or holds and of its ``weights_files``; None if none."""
    parts: dict[str, Any] = {}
    modules = _torch_modules(obj)
    if modules:
        parts["modules"] = {name: state_dict_sha256(m.state_dict()) for name, m in modules.items()}
    files = getattr(obj, "weights_files", None)
    if files:
        paths = [files] if isinstance(files, str | Path) else list(files)
        parts["files"] = {str(path): _path_sha256(Path(path), spec) for path in paths}
    return stable_hash("python-weights", parts) if parts else None


def _torch_modules(obj: Any) -> dict[str, Any]:
    """``obj`` itself if it is a torch module, else its attributes that are."""
    # An object holding a torch module was built with torch already imported;
    # otherwise there is nothing to find, and no reason to import torch.
    if "torch" not in sys.modules:
        return {}
    import torch

    if isinstance(obj, torch.nn.Module):
        return {"": obj}
    attributes = getattr(obj, "__dict__", {})
    return {name: value for name, value in sorted(attributes.items())
            if isinstance(value, torch.nn.Module)}


def _path_sha256(path: Path, spec: EncoderSpec) -> str:
    """SHA-256 of a weights file, or of every file under a weights folder with its name."""
    if path.is_file():
        return file_sha256(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return stable_hash([(p.relative_to(path).as_posix(), file_sha256(p)) for p in files])
    raise ConfigError(
        f"weights file {str(path)!r} listed in weights_files of {spec.raw!r} does not exist "
        f"(relative paths are taken from {str(Path.cwd())!r}): fix the path or remove it"
    )


def _no_weights_reason(obj: Any, spec: EncoderSpec) -> str:
    return (
        f"the fingerprint of {spec.canonical!r} cannot follow its weights: "
        f"{type(obj).__qualname__} is no torch module, holds none as an attribute, and "
        "declares neither weights_files nor a fingerprint; set one of them so that "
        "auditkit can store its embeddings and measurements"
    )
