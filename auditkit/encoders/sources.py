"""The table of encoder sources: one record per spec prefix, each owned by its adapter.

Shaped like timm's model registry: each adapter module declares the source it
serves by decorating its builder with :func:`register_source`, giving the form
users see, the parser of the text after ``NAME:`` and the builder. This module
keeps the table and nothing else; :mod:`auditkit.encoders.spec` dispatches on
it. The package ``__init__`` imports the built-in adapters, so their records
exist before any spec is parsed; the adapters import torch, timm and open_clip
only when they build an encoder, so registering them costs nothing heavy.

Examples
--------
>>> @register_source("mine", form="mine:CHECKPOINT")  # doctest: +SKIP
... def build_mine(spec, options):
...     return MyEncoder(spec.name)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from auditkit.encoders.base import Encoder
    from auditkit.encoders.options import LoadOptions
    from auditkit.encoders.spec import EncoderSpec

Builder = Callable[["EncoderSpec", "LoadOptions"], "Encoder"]
#: Parses the text after ``NAME:`` into ``(name, pretrained)``; None when malformed.
Parser = Callable[[str], "tuple[str, str] | None"]

B = TypeVar("B", bound=Builder)


def whole_name(rest: str) -> tuple[str, str]:
    """The default parser: the whole text after ``NAME:`` is the model name."""
    return rest, ""


@dataclass(frozen=True)
class EncoderSource:
    """One spec source: the grammar of ``NAME:...`` and how to build it.

    Parameters
    ----------
    name : str
        The prefix before the first ``:`` (``timm``), or the whole spec of a
        source that takes nothing after it (``pixels``).
    form : str
        The grammar shown in errors and by ``auditkit encoders``.
    parse : callable
        Text after ``NAME:`` to ``(name, pretrained)``, or None when malformed.
    build : callable
        ``build(spec, options) -> Encoder``.
    weights : bool
        Whether ``random:`` and ``@PATH`` apply, i.e. whether the source has a
        ``random:`` control of its architecture.
    """

    name: str
    form: str
    parse: Parser
    build: Builder
    weights: bool = True

    @property
    def bare(self) -> bool:
        """Whether the name alone is the whole spec (``pixels``)."""
        return self.form == self.name


_SOURCES: dict[str, EncoderSource] = {}


def register_source(
    name: str, form: str | None = None, parse: Parser = whole_name, weights: bool = True
) -> Callable[[B], B]:
    """Register the decorated builder for specs ``NAME:...`` (a later one replaces).

    ``form`` defaults to ``"NAME:NAME"`` and ``parse`` to taking the whole
    text after ``NAME:`` as the model name.
    """

    def decorate(fn: B) -> B:
        _SOURCES[name] = EncoderSource(name, form or f"{name}:NAME", parse, fn, weights)
        return fn

    return decorate


def get_source(name: str) -> EncoderSource | None:
    """The record registered for ``name``, or None."""
    return _SOURCES.get(name)


def list_sources() -> list[EncoderSource]:
    """Every registered source, in registration order."""
    return list(_SOURCES.values())
