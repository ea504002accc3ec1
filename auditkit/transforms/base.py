"""Variants: a named, parametrised transformation of a source image.

A :class:`Variant` is what the cache key and the probe label see: a stable
``id`` (``family/name``), its ``params``, a ``version`` that is bumped when
the implementation changes the pixels it produces, and a hash of that
implementation's code (:func:`code_digest`), so that an edit nobody bumped a
version for still keys apart. Applying a variant is deterministic given
(image, seed).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from auditkit.encoders.base import stable_hash

TransformFn = Callable[[Image.Image, Mapping[str, Any], int], Image.Image]


@dataclass(frozen=True)
class Variant:
    """One transformation with fixed parameters.

    Parameters
    ----------
    id : str
        Stable identifier, ``family/name`` (e.g. ``jpeg/q75-420``).
    family : str
        Transformation family (``quality``, ``geometric``, ``style`` ...).
    fn : callable
        ``fn(image, params, seed) -> image``; must be a module-level function
        so that variants pickle into DataLoader workers.
    params : mapping
        Parameters recorded in results and in the cache key.
    version : int
        Bumped when ``fn`` changes its output for the same input.
    label : str
        Human-readable name for cards ("JPEG 75 4:2:0").
    stochastic : bool
        Whether ``fn`` uses its seed; only then does the seed enter cache keys.
    post : callable or None
        ``post(x, params) -> x`` applied after the encoder's own preprocessing
        (the masked semantic control); module-level for pickling. ``x`` is the
        model's input tensor, or the PIL image for encoders whose
        preprocessing is not a pixel transform (see ``Encoder.post_on_image``).
    """

    id: str
    family: str
    fn: TransformFn = field(compare=False, repr=False)
    params: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1
    label: str = ""
    stochastic: bool = False
    post: Callable[[Any, Mapping[str, Any]], Any] | None = field(
        default=None, compare=False, repr=False)

    def apply(self, image: Image.Image, seed: int = 0) -> Image.Image:
        out = self.fn(image, self.params, seed)
        return out if out.mode == "RGB" else out.convert("RGB")

    @property
    def key(self) -> str:
        """Hash of id, params, version and code: the variant's part of every cache key."""
        code = [code_digest(self.fn), code_digest(self.post) if self.post else None]
        return stable_hash("variant", self.id, dict(self.params), self.version, code)


#: The package whose modules hold the built-in transformations.
_BUILTIN = __name__.rpartition(".")[0]


def code_digest(fn: Callable[..., Any]) -> str:
    """SHA-256 of the code behind a transformation function.

    Built-in transformations (:mod:`auditkit.transforms`) share helpers
    across modules, so each is keyed on the source of the whole package.
    Any other function is keyed on the source of the module that defines it
    (a ``conftest.py``, say), which covers the helpers and constants beside
    it; helpers it imports from elsewhere are not covered, so bump the
    variant's ``version`` when only those change. Without source (a function
    typed at a prompt) the qualified name stands in.

    Examples
    --------
    >>> from auditkit.transforms.quality import jpeg
    >>> len(code_digest(jpeg)), code_digest(jpeg) == code_digest(identity)
    (64, False)
    """
    try:
        return _cached_digest(fn)
    except TypeError:  # an unhashable callable: worked out afresh
        return _code_digest(fn)


@functools.cache
def _cached_digest(fn: Callable[..., Any]) -> str:
    return _code_digest(fn)


def _code_digest(fn: Callable[..., Any]) -> str:
    target = inspect.unwrap(fn)
    bound: list[str] = []
    while isinstance(target, functools.partial):
        # Partial arguments are code too: they pick what the function does.
        bound.append(repr((target.args, sorted(target.keywords.items()))))
        target = inspect.unwrap(target.func)
    module = inspect.getmodule(target)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
    if module is not None and (module.__name__ == _BUILTIN
                               or module.__name__.startswith(_BUILTIN + ".")):
        source = _package_source()
    else:
        try:
            source = inspect.getsource(module if module is not None else target)
        except (OSError, TypeError):
            source = name
    return hashlib.sha256("\0".join([name, source, *bound]).encode()).hexdigest()


@functools.cache
def _package_source() -> str:
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def identity(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return image


ORIGINAL = Variant(id="original", family="none", fn=identity, label="original")
