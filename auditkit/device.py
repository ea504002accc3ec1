"""The device a run's encoders are put on, and whether a requested one exists."""

from __future__ import annotations

import torch

from auditkit.errors import ConfigError


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


def check_device(requested: str | None) -> None:
    """A usage error, at start-up, for a device this machine does not have.

    Without it, ``--audit-device cuda`` on a CPU machine ended in a torch
    traceback inside every test case.

    Examples
    --------
    >>> check_device("cpu"); check_device(None); check_device("auto")
    >>> check_device("tpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    auditkit.errors.ConfigError: --audit-device='tpu' is not a device: expected auto, ...
    """
    if requested in (None, "", "auto", "cpu"):
        return
    kind, _, index = str(requested).partition(":")
    if kind not in ("cuda", "mps") or (index and not index.isdigit()):
        raise ConfigError(f"--audit-device={requested!r} is not a device: expected auto, cpu, "
                          "cuda, cuda:N or mps")
    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("--audit-device=mps: this machine has no MPS device "
                              "(use --audit-device=cpu, or leave it out for auto)")
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError(f"--audit-device={requested!r}: this machine has no CUDA device "
                          "(torch.cuda.is_available() is False); use --audit-device=cpu, or "
                          "leave it out for auto")
    if index and int(index) >= count:
        raise ConfigError(f"--audit-device={requested!r}: this machine has {count} CUDA "
                          f"device(s), cuda:0 to cuda:{count - 1}")
