"""The host allocator: freed memory is kept for reuse, not handed back to the kernel.

glibc's ``malloc`` serves a block above its mmap threshold (adaptive, at most
32 MiB) with a fresh mapping and unmaps it on ``free``. An audit allocates
such blocks over and over: each CPU forward pass at batch 32 allocates
activation maps of about 50 MB, and each probe fit copies its training rows
(N x D float64, 37 MB at N = 6,000, D = 768). Every one was faulted in and
zeroed by the kernel again: on EfficientNet-Lite0, 40–43 % of the CPU forward's
time was system time (``benchmarks/allocator.py``, ``benchmarks/RESULTS.md``).

:func:`retain_freed_memory` raises both thresholds with ``mallopt``, so those
blocks come from the heap and return to it. It changes where memory comes
from, never a value computed. It is called when an audit session is built
(``AuditSession``, and ``auditkit mitigate``), not when the plugin loads: a
pytest run that audits nothing keeps its allocator as it was. Elsewhere
than glibc it does nothing; malloc settings the user made
(``GLIBC_TUNABLES=glibc.malloc...``, ``MALLOC_*_``) are left to win, and
``AUDITKIT_MALLOC=default`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from collections.abc import Mapping

__all__ = ["retain_freed_memory"]

#: ``mallopt`` parameters (``<malloc.h>``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, and up to this much free memory stays
#: there: a batch-32 forward pass frees more than 256 MiB at once, so less refaults.
RETAIN_BYTES = 1024 * 1024 * 1024

_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True where they were raised.

    Examples
    --------
    >>> retain_freed_memory() in (True, False)
    True
    """
    global _applied
    if _applied is None:
        _applied = _raise_thresholds()
    return _applied


def _raise_thresholds() -> bool:
    if os.environ.get("AUDITKIT_MALLOC") == "default" or _user_settings(os.environ):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt answers 1 on success; the mmap threshold first, as it also
    # stops glibc from adapting it on each free.
    return bool(mallopt(_M_MMAP_THRESHOLD, RETAIN_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, RETAIN_BYTES))


def _user_settings(env: Mapping[str, str]) -> bool:
    """Whether the environment already tunes malloc.

    >>> _user_settings({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1"})
    True
    >>> _user_settings({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2", "PATH": "/bin"})
    False
    """
    return ("glibc.malloc" in env.get("GLIBC_TUNABLES", "")
            or any(k.startswith("MALLOC_") and k.endswith("_") for k in env))
