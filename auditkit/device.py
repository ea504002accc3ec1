"""The device a run's encoders are put on."""

from __future__ import annotations

import torch


def pick_device(requested: str | None) -> str:
    """``cuda`` when there is one (or what the user asked for), else ``cpu``.

    Examples
    --------
    >>> pick_device("cpu")
    'cpu'
    """
    if requested and requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"
