"""Where a result came from: package versions, interpreter, platform, machine, commit, time.

The audit session, the benchmarks and the calibration study all record
these facts; this module is the one place that reads them, so the three
record the same thing the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions a result records.
PACKAGES = (
    "pytest-auditkit", "torch", "torchvision", "timm", "open_clip_torch", "scikit-learn",
    "numpy", "pillow", "jinja2",
)


def utc_timestamp() -> str:
    """Now, in UTC, as ISO 8601 to the second.

    Examples
    --------
    >>> utc_timestamp().endswith("+00:00")
    True
    """
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """The installed version of each distribution in ``names``; ``None`` where it is missing.

    Examples
    --------
    >>> package_versions(["no-such-distribution-here"])
    {'no-such-distribution-here': None}
    """
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(root: Path) -> str | None:
    """``HEAD`` of the git checkout at ``root``; ``None`` outside one or without git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def interpreter() -> dict[str, str]:
    """The Python version and the platform string, as results record them.

    Examples
    --------
    >>> sorted(interpreter())
    ['platform', 'python']
    """
    return {"python": platform.python_version(), "platform": platform.platform()}


def machine_info(device: str) -> dict[str, Any]:
    """What a timing depends on: cores, threads, versions, device, date, load.

    ``loadavg_start`` is the load average now; a benchmark adds
    ``loadavg_end`` when it finishes, so that a busy machine shows.
    """
    # Imported here: reading versions or a commit should not pay for torch.
    import torch

    from auditkit.backends.local import default_workers

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "dataloader_workers": default_workers(),
        "device": device,
        "gpu": gpu,
        **interpreter(),
        "versions": package_versions(),
        "date": utc_timestamp(),
        "loadavg_start": list(os.getloadavg()),
    }
