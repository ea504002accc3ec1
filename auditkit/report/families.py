"""Which card partial shows an audit's details, and which details keys each partial draws.

The report never knows audit names. Each audit entry of ``results.json``
names its card partial under ``"card"``
(``reports/templates/partials/cards/_CARD.html.j2``); the audit that wrote
the entry chose it. Only documents written before that key existed are read
with the old audit-name prefix rule, kept in :func:`legacy_card`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, TemplateNotFound

#: The partial of an entry that names none and whose name has no known prefix.
DEFAULT_CARD = "probe"

#: Where a card's partial lives, by card name.
PARTIAL = "partials/cards/_{card}.html.j2"

#: How a partial says which details keys it draws itself (the generic
#: details list leaves them out), on a line of its own near the top:
#: ``{#- draws: per_family, family_accuracy -#}``.
_DRAWS = re.compile(r"\{#-?\s*draws:\s*(?P<keys>[^#]*?)\s*-?#\}")


def card_keys(env: Environment, card: str) -> list[str]:
    """The details keys the partial of ``card`` draws itself, from its ``draws:`` line.

    The partial declares them, so a new card (a stock one, or one in a
    user's ``--audit-template-dir``) needs no entry here. A card without a
    partial, or a partial without the line, draws none.

    Examples
    --------
    >>> card_keys(make_environment(), "style")                      # doctest: +SKIP
    ['per_family', 'family_accuracy']
    """
    try:
        source, _, _ = env.loader.get_source(env, PARTIAL.format(card=card))  # type: ignore[union-attr]
    except TemplateNotFound:
        return []
    found = _DRAWS.search(source)
    if found is None:
        return []
    return [k.strip() for k in found.group("keys").split(",") if k.strip()]


#: Legacy documents only: audit-name prefix -> card partial, as the report read
#: ``results.json`` before its entries named their card.
LEGACY_PREFIX_CARDS = {"retrieval": "retrieval", "style": "style", "camera": "camera"}


def legacy_card(audit: str) -> str:
    """The card partial of an entry written before entries named theirs (legacy documents only).

    The text before the audit name's first ``_`` picks the partial; any other
    name gets the probe partial.

    Examples
    --------
    >>> legacy_card("retrieval_shift"), legacy_card("camera_model_masked"), legacy_card("x")
    ('retrieval', 'camera', 'probe')
    """
    prefix = audit.split("_", 1)[0]
    return LEGACY_PREFIX_CARDS.get(prefix, DEFAULT_CARD)


def card_of(entry: Mapping[str, Any]) -> str:
    """The card partial that shows one audit entry of ``results.json``: its ``"card"`` key.

    Examples
    --------
    >>> card_of({"audit": "my_toy_audit", "card": "style"})
    'style'
    >>> card_of({"audit": "style_texture"})  # written before entries named their card
    'style'
    """
    card = entry.get("card")
    if isinstance(card, str) and card:
        return card
    return legacy_card(str(entry["audit"]))
