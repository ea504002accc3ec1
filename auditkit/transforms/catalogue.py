"""The transformation catalogue of the style audits, and user registration.

Rashtchian et al. (2023) probe which of dozens of transformations was applied
to an image, grouped by family. The built-in catalogue has seven families
(:data:`FAMILY_ORDER`), one module each; a project adds its own
transformations by registering them, typically in its ``conftest.py``::

    from auditkit.transforms.catalogue import register_transform

    @register_transform("style/sepia-sketch", "style", label="sepia sketch", strength=0.7)
    def sepia_sketch(image, params, seed):
        ...

and every style audit of the run then includes them.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from typing import Any

from auditkit.errors import ConfigError
from auditkit.transforms import colour, filters, geometric, noise, overlay, quality, style
from auditkit.transforms.base import TransformFn, Variant

#: Built-in families in catalogue order, each with the function listing its members.
BUILTIN: dict[str, Callable[[], list[Variant]]] = {
    "geometric": geometric.variants,
    "colour": colour.variants,
    "filter": filters.variants,
    "noise": noise.variants,
    "quality": quality.quality_variants,
    "overlay": overlay.variants,
    "style": style.variants,
}
FAMILY_ORDER: tuple[str, ...] = tuple(BUILTIN)

# Registered by users, in registration order; read by every catalogue() call.
_REGISTERED: dict[str, Variant] = {}


def builtin_variants() -> list[Variant]:
    """The built-in catalogue, family by family in :data:`FAMILY_ORDER`."""
    return [v for make in BUILTIN.values() for v in make()]


def catalogue(families: Iterable[str] | None = None) -> list[Variant]:
    """Built-in and registered transformations, ordered by family, ids unique.

    Parameters
    ----------
    families : iterable of str or None
        Keep only these families (built-in or registered); ``None`` keeps all.

    Returns
    -------
    list of Variant
        Built-in families in :data:`FAMILY_ORDER` with registered members
        appended to their family, then families only users registered, in
        the order they first appeared.

    Raises
    ------
    ConfigError
        A requested family has no member.

    Examples
    --------
    >>> len(catalogue(["style"])) >= 8
    True
    >>> catalogue(["colour"])[0].id
    'colour/grayscale'
    """
    by_family: dict[str, list[Variant]] = {name: [] for name in FAMILY_ORDER}
    for variant in [*builtin_variants(), *_REGISTERED.values()]:
        by_family.setdefault(variant.family, []).append(variant)
    if families is None:
        wanted = list(by_family)
    else:
        wanted = list(dict.fromkeys(families))
        unknown = [f for f in wanted if not by_family.get(f)]
        if unknown:
            known = [f for f, members in by_family.items() if members]
            raise ConfigError(
                f"no transformation in famil{'y' if len(unknown) == 1 else 'ies'} "
                f"{', '.join(map(repr, unknown))}: expected some of {', '.join(known)}"
            )
    return [v for name in by_family if name in wanted for v in by_family[name]]


def families(variants: Iterable[Variant] | None = None) -> dict[str, list[Variant]]:
    """``variants`` (default: the whole catalogue) by family, in catalogue order.

    Examples
    --------
    >>> list(families())[:3]
    ['geometric', 'colour', 'filter']
    """
    out: dict[str, list[Variant]] = {}
    for variant in catalogue() if variants is None else variants:
        out.setdefault(variant.family, []).append(variant)
    return out


def register(variant: Variant) -> Variant:
    """Add ``variant`` to the catalogue of this process; returns it.

    Its id must read ``family/name`` with ``family`` equal to
    ``variant.family``, and must not be taken. Registering the very same
    transformation again (equal id, family, parameters and version, same
    function) is a no-op, because a ``conftest.py`` may be imported more than
    once in one process (e.g. by ``pytester``).

    Raises
    ------
    ConfigError
        Malformed id, a function that is not a module-level callable, or an
        id already taken by a different transformation.

    Examples
    --------
    >>> v = register(Variant("colour/duotone", "colour", my_fn, {"hue": 200}))  # doctest: +SKIP
    """
    _check_shape(variant)
    taken = {v.id: v for v in builtin_variants()} | _REGISTERED
    existing = taken.get(variant.id)
    if existing is not None:
        if _same(existing, variant):
            return existing
        where = "a built-in transformation" if variant.id not in _REGISTERED else (
            f"a transformation registered from {_origin(existing.fn)}"
        )
        raise ConfigError(
            f"transformation id {variant.id!r} is already taken by {where}; "
            "register yours under another name"
        )
    _REGISTERED[variant.id] = variant
    return variant


def register_transform(
    id: str,
    family: str,
    *,
    label: str = "",
    stochastic: bool = False,
    version: int = 1,
    **params: Any,
) -> Callable[[TransformFn], TransformFn]:
    """Decorator: register ``fn(image, params, seed) -> image`` under ``id``.

    Keyword arguments other than ``label``, ``stochastic`` and ``version``
    become the variant's ``params`` (recorded in results and cache keys).
    The source of the module defining ``fn`` enters every cache key
    (:func:`~auditkit.transforms.base.code_digest`), so editing it
    re-embeds; bump ``version`` when the output changes through code
    imported from another module, which the key cannot see.

    Examples
    --------
    >>> @register_transform("overlay/my-logo", "overlay", label="logo", size=30)  # doctest: +SKIP
    ... def my_logo(image, params, seed):
    ...     ...
    """

    def decorate(fn: TransformFn) -> TransformFn:
        register(Variant(id, family, fn, dict(params), version=version,
                         label=label or id.split("/", 1)[-1], stochastic=stochastic))
        return fn

    return decorate


def unregister(id: str) -> None:
    """Remove a registered transformation (tests and interactive use); unknown ids are ignored."""
    _REGISTERED.pop(id, None)


def registered() -> list[Variant]:
    """The transformations users registered in this process, in order."""
    return list(_REGISTERED.values())


def _check_shape(variant: Variant) -> None:
    family, _, name = variant.id.partition("/")
    if not family or not name or family != variant.family:
        raise ConfigError(
            f"transformation id {variant.id!r} of family {variant.family!r}: expected "
            f"'{variant.family}/<name>'"
        )
    fn = variant.fn
    try:
        pickle.dumps(fn) if callable(fn) else None
        picklable = callable(fn)
    except (pickle.PicklingError, AttributeError, TypeError):
        picklable = False
    if not picklable:
        raise ConfigError(
            f"transformation {variant.id!r}: fn {fn!r} must be a module-level function "
            "fn(image, params, seed) so that it pickles into DataLoader workers"
        )


def _same(a: Variant, b: Variant) -> bool:
    return (a.key == b.key and a.family == b.family and a.stochastic == b.stochastic
            and _origin(a.fn) == _origin(b.fn))


def _origin(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
