"""Options that change how an encoder is loaded (not what it computes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadOptions:
    """Where to look for weights and how to seed random controls.

    Parameters
    ----------
    cache_dir : str or None
        Hub cache directory (``None``: the hub client's default).
    seed : int
        Seed of the random weights of ``random:`` specs.
    """

    cache_dir: str | None = None
    seed: int = 0
