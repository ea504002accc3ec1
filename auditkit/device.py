"""The device a run's encoders and fits are put on, and whether a requested one exists.

The session's device is also the device of the probe fits and the k-NN
retrievals of its measurements: :func:`computing_on` makes it the one
:func:`active_device` answers while an audit measures, so that a probe an
audit builds without naming a device runs there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

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


def worker_device(device: str, env: Mapping[str, str] | None = None,
                  count: Callable[[], int] | None = None) -> str:
    """One CUDA device per pytest-xdist worker: ``cuda:{index % count}`` for a bare ``cuda``.

    Without it every worker put its model on ``cuda:0``. A device with an
    index (``cuda:1``), a device that is not CUDA, and a process that is not
    a worker are left as they are.

    Parameters
    ----------
    device : str
        The run's device, already picked (:func:`pick_device`).
    env : mapping or None
        Where ``PYTEST_XDIST_WORKER`` (``gw0``, ``gw1``, ...) is read (default: ``os.environ``).
    count : callable or None
        The number of CUDA devices (default: ``torch.cuda.device_count``).

    Examples
    --------
    >>> worker_device("cuda", {"PYTEST_XDIST_WORKER": "gw3"}, count=lambda: 2)
    'cuda:1'
    >>> worker_device("cuda", {}, count=lambda: 2)
    'cuda'
    >>> worker_device("cpu", {"PYTEST_XDIST_WORKER": "gw3"})
    'cpu'
    """
    worker = (os.environ if env is None else env).get("PYTEST_XDIST_WORKER", "")
    if device != "cuda" or not worker.startswith("gw") or not worker[2:].isdigit():
        return device
    devices = (count or torch.cuda.device_count)()
    return device if devices < 1 else f"cuda:{int(worker[2:]) % devices}"


#: The device of the measurement in progress (None: none, or outside a session).
_active: ContextVar[str | None] = ContextVar("auditkit_device", default=None)


#: Devices whose measurements hand the probes and the k-NN host (numpy) arrays: the
#: path every recorded result and calibration table was made on, kept bit for bit.
HOST_DEVICES = frozenset({"cpu"})


def tensor_device() -> str | None:
    """The device a measurement hands its embeddings to as tensors; None: host arrays.

    That is the :func:`active_device` unless it is one of :data:`HOST_DEVICES`,
    so that on an accelerator an embedding table is copied there once and
    every probe fit and k-NN of the measurement gathers its rows there.

    Examples
    --------
    >>> tensor_device() is None
    True
    >>> with computing_on("cpu"):
    ...     tensor_device() is None
    True
    >>> with computing_on("cuda:1"):
    ...     tensor_device()
    'cuda:1'
    """
    on = active_device()
    return None if on is None or on in HOST_DEVICES else on


@contextmanager
def computing_on(device: str) -> Iterator[None]:
    """Make ``device`` the :func:`active_device` of the block (an audit's measurement)."""
    token = _active.set(device)
    try:
        yield
    finally:
        _active.reset(token)


def active_device() -> str | None:
    """The device of the measurement in progress, None outside one.

    Examples
    --------
    >>> active_device() is None
    True
    >>> with computing_on("cpu"):
    ...     active_device()
    'cpu'
    """
    return _active.get()


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
