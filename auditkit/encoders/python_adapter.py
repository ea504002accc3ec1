"""``python:MODULE:FACTORY``: an encoder written by the user.

This runs the user's code: ``MODULE`` is imported and ``FACTORY()`` is called.
The factory returns either an auditkit :class:`Encoder` or any object with
``embed(images: list[PIL.Image.Image]) -> array (N, D)`` and, optionally, a
``fingerprint`` string. Without one, the fingerprint hashes the module's
source file, so editing the code invalidates cached embeddings.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from auditkit.encoders.base import Encoder, stable_hash
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec
from auditkit.errors import ConfigError, SpecError


class CallableEncoder(Encoder):
    """Adapts an object with ``embed(list[PIL.Image]) -> (N, D)`` to :class:`Encoder`."""

    post_on_image = True

    def __init__(self, spec: str, obj: Any, fingerprint: str) -> None:
        self.spec = spec
        self.obj = obj
        self._fingerprint = fingerprint
        self.weights_source = f"user code {type(obj).__module__}.{type(obj).__qualname__}"
        self.default_batch_size = int(getattr(obj, "batch_size", 32))

    def preprocess(self, image: Image.Image) -> Image.Image:
        return image

    def collate(self, items: Any) -> list[Image.Image]:
        return list(items)

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
        return self._fingerprint


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
    # Users name modules of their own project: import from the working directory.
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
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
    obj = factory()
    if isinstance(obj, Encoder):
        obj.spec = obj.spec or spec.canonical
        return obj
    if not callable(getattr(obj, "embed", None)):
        raise SpecError(
            f"factory {spec.name!r} returned {type(obj).__name__}, which is neither an "
            "auditkit Encoder nor an object with embed(images) -> (N, D)"
        )
    fingerprint = getattr(obj, "fingerprint", None)
    if not isinstance(fingerprint, str) or not fingerprint:
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            source = module_name
        fingerprint = stable_hash("python-encoder", spec.canonical, source)
    else:
        fingerprint = stable_hash("python-encoder", spec.canonical, fingerprint)
    return CallableEncoder(spec.canonical, obj, fingerprint)
