"""Which card partial shows an audit's details, and which details keys each partial draws.

The report never knows audit names. Each audit entry of ``results.json``
names its card partial under ``"card"``
(``reports/templates/partials/cards/_CARD.html.j2``); the audit that wrote
the entry chose it. Only documents written before that key existed are read
with the old audit-name prefix rule, kept in :func:`legacy_card`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The partial of an entry that names none and whose name has no known prefix.
DEFAULT_CARD = "probe"

#: Card partial -> the details keys it draws itself (the generic list leaves them out).
CARD_KEYS: dict[str, list[str]] = {
    "probe": [],
    "style": ["per_family", "family_accuracy"],
    "camera": ["simulated", "note", "cameras", "class_counts", "dropped_classes"],
    "retrieval": ["settings", "families", "pairs", "delta", "delta_ci", "mean_abs_delta",
                  "mean_abs_delta_note", "definition", "classes", "queries_per_class",
                  "database_per_class"],
}

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
