"""Finding weights offline first, and loading checkpoints safely.

Weights are resolved to a local file (:func:`resolve_hub_file`) or a local
repo folder (:func:`resolve_hub_snapshot`) before any model is built, so a
missing file ends in one :class:`WeightsUnavailableError` instead of a minute
of hub retries and a bare ``RuntimeError``. Checkpoints load only through
safetensors or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import socket
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from auditkit.errors import UnsafeCheckpointError, WeightsUnavailableError


@dataclass(frozen=True)
class HubFile:
    """A weights file on the Hugging Face hub: one repo, candidate file names."""

    repo_id: str
    filenames: Sequence[str]


#: The prefix timm and open_clip give names that exist only on the hub.
HF_HUB_PREFIX = "hf-hub:"


def hub_only_repo(name: str) -> str | None:
    """The repo id of an ``hf-hub:OWNER/NAME`` model name, or None for a library name.

    Examples
    --------
    >>> hub_only_repo("hf-hub:timm/vit_base_patch16_siglip_224.webli")
    'timm/vit_base_patch16_siglip_224.webli'
    >>> hub_only_repo("resnet50") is None
    True
    """
    return name[len(HF_HUB_PREFIX):] if name.startswith(HF_HUB_PREFIX) else None


def snapshot_file(folder: str, filename: str, spec: str) -> str:
    """``folder/filename`` of a hub snapshot; a missing file is a clear error.

    Hub-only names load safetensors only: a pickle from the hub could run code.
    """
    path = Path(folder) / filename
    if not path.is_file():
        raise WeightsUnavailableError(
            f"hub repo of {spec!r} has no {filename} in {folder!r}: auditkit loads only "
            f"safetensors from hub-only names; pass --encoder '{spec}@PATH' instead"
        )
    return str(path)


def hub_offline() -> bool:
    """Whether the user asked the hub client to stay offline."""
    try:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return True
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        pass
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def hub_cache_dir(cache_dir: str | None) -> str:
    if cache_dir:
        return str(cache_dir)
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def hub_reachable(timeout: float = 3.0) -> bool:
    """A fast TCP check of the hub endpoint (seconds, not a minute of retries)."""
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_hub_file(spec: str, hub: HubFile, cache_dir: str | None = None,
                     download: bool = True) -> str:
    """Return a local path for ``hub``: from the cache, else downloaded if the hub answers.

    With ``download=False`` nothing is fetched: a file not cached gives ``""``
    where the hub may be asked (the start-up check of a run).

    Raises
    ------
    WeightsUnavailableError
        When no candidate file is cached and the hub is offline or unreachable.
    """
    from huggingface_hub import hf_hub_download

    cache = hub_cache_dir(cache_dir)
    fetches = {
        filename: functools.partial(hf_hub_download, hub.repo_id, filename, cache_dir=cache)
        for filename in hub.filenames
    }
    return _offline_first(
        spec, fetches, cache, tried=f"hub repo {hub.repo_id!r}, files {list(hub.filenames)!r}",
        download=download,
    )


def resolve_hub_snapshot(
    spec: str,
    repo_id: str,
    allow_patterns: Sequence[str] | None = None,
    cache_dir: str | None = None,
    download: bool = True,
) -> str:
    """Return the local folder of hub repo ``repo_id``: from the cache, else downloaded.

    The folder holds the files matching ``allow_patterns`` (all files when
    None), at the revision the cache's ``refs/main`` names. ``download=False``
    as in :func:`resolve_hub_file`.

    Raises
    ------
    WeightsUnavailableError
        When the snapshot is not cached and the hub is offline or unreachable;
        the same message as :func:`resolve_hub_file`.
    """
    from huggingface_hub import snapshot_download

    cache = hub_cache_dir(cache_dir)
    patterns = list(allow_patterns) if allow_patterns is not None else None
    fetch = functools.partial(snapshot_download, repo_id, allow_patterns=patterns, cache_dir=cache)
    files = "all files" if patterns is None else f"files matching {patterns!r}"
    return _offline_first(spec, {"snapshot": fetch}, cache,
                          tried=f"hub repo {repo_id!r}, {files}", download=download)


def _offline_first(
    spec: str, fetches: Mapping[str, Callable[..., Any]], cache: str, tried: str,
    download: bool = True,
) -> str:
    """Run each fetch on the cache alone, then, if the hub may be asked, for real.

    ``fetches`` maps a candidate's label to a hub-client call that takes
    ``local_files_only``. The first that returns wins; when none does, one
    :class:`WeightsUnavailableError` says why, raised outside any ``except``
    so no hub traceback rides along. Without ``download``, ``""`` stands for
    "not cached, but the hub may be asked".
    """
    for fetch in fetches.values():
        try:
            return str(fetch(local_files_only=True))
        except Exception:
            continue
    offline = hub_offline()
    reason = "HF_HUB_OFFLINE is set" if offline else ""
    if not offline and not hub_reachable():
        reason = "the hub cannot be reached from this machine"
    if not reason and not download:
        return ""
    if not reason:
        errors = []
        for label, fetch in fetches.items():
            try:
                return str(fetch(local_files_only=False))
            except Exception as exc:
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
        reason = "the hub refused every candidate file (" + "; ".join(errors) + ")"
    raise WeightsUnavailableError(
        missing_weights_message(spec, tried=tried, cache=cache, reason=reason)
    )


def missing_weights_message(spec: str, tried: str, cache: str, reason: str) -> str:
    offline = "on" if hub_offline() else "off"
    return (
        f"weights for encoder {spec!r} are not available: {reason}.\n"
        f"  looked for: {tried}\n"
        f"  hub cache:  {cache} (HF_HUB_OFFLINE is {offline})\n"
        "  to supply them, either\n"
        f"    - pass a local file: --encoder '{spec}@path/to/weights.safetensors', or\n"
        "    - fill the hub cache on a machine with network access "
        "(run the same command there once, or `hf download REPO`) and copy it here, "
        "pointing HF_HUB_CACHE at it; then set HF_HUB_OFFLINE=1 "
        "to skip network checks."
    )


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def state_dict_sha256(state: Mapping[str, Any]) -> str:
    """SHA-256 over a state dict's names, dtypes, shapes and bytes (sorted by name)."""
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\0".encode())
        h.update(tensor.view(-1).view(dtype=_byte_dtype()).numpy().tobytes())
    return h.hexdigest()


def _byte_dtype() -> Any:
    import torch

    return torch.uint8


def check_weights_file(path: str | Path, spec: str = "") -> Path:
    """``path`` as a ``Path``, if it is a file; else the error that names the ``@PATH``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"weights file {str(path)!r} for encoder {spec!r} does not exist: "
            "check the path after '@' (relative paths are taken from the current directory)"
        )
    return path


def load_checkpoint(path: str | Path, spec: str = "") -> dict[str, Any]:
    """Load a state dict from safetensors or a weights-only torch file.

    A pickle that needs code to run is refused with :class:`UnsafeCheckpointError`.
    Wrappers ``{"state_dict": ...}`` / ``{"model": ...}`` are unwrapped.
    """
    path = check_weights_file(path, spec)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except Exception as exc:
            raise WeightsUnavailableError(
                f"{str(path)!r} is not a readable safetensors file: {exc}"
            ) from exc
    else:
        import torch

        try:
            with warnings.catch_warnings():
                # Legacy (non-zip) pickles warn about their protocol; the
                # weights-only unpickler still decides whether they are safe.
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UnsafeCheckpointError(
                f"refusing to load {str(path)!r}: it is a pickle that would run code when "
                "loaded (torch.load weights_only=True rejected it). Convert it to "
                "safetensors or save a plain state_dict of tensors."
            ) from exc
        except Exception as exc:
            raise WeightsUnavailableError(
                f"{str(path)!r} is not a readable torch checkpoint: {type(exc).__name__}: {exc}"
            ) from exc
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise WeightsUnavailableError(
            f"{str(path)!r} holds no state dict of tensors (got {type(state).__name__})"
        )
    return dict(state)


#: Prefixes that training wrappers put before every key: DataParallel / DDP
#: (``module.``), ``torch.compile`` (``_orig_mod.``), Lightning and others (``model.``).
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")


def strip_wrappers(state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` without the wrapper prefixes that every one of its keys carries.

    Stripped before anything else looks at the names (a classifier head to
    drop, an architecture to match), nested wrappers included.

    Examples
    --------
    >>> sorted(strip_wrappers({"module._orig_mod.fc.weight": 1, "module._orig_mod.fc.bias": 2}))
    ['fc.bias', 'fc.weight']
    >>> sorted(strip_wrappers({"module.a": 1, "b": 2}))
    ['b', 'module.a']
    """
    out = dict(state)
    while out:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in out)), None)
        if prefix is None:
            break
        out = {k[len(prefix):]: v for k, v in out.items()}
    return out


def load_into(model: Any, state: Mapping[str, Any], path: str, spec: str) -> None:
    """Load ``state`` into ``model`` strictly, trying the usual key prefixes."""
    state = strip_wrappers(state)
    expected = set(model.state_dict())
    for prefix in ("", "visual.", "encoder."):
        candidate = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if prefix == "" or candidate:
            if set(candidate) == expected:
                model.load_state_dict(candidate, strict=True)
                return
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    raise WeightsUnavailableError(
        f"weights in {path!r} do not fit the architecture of {spec!r}: "
        f"{len(missing)} keys missing (e.g. {missing[:3]!r}), "
        f"{len(unexpected)} unexpected (e.g. {unexpected[:3]!r}). "
        "Check that the checkpoint was saved from this architecture. If it was, under other "
        "names, rename the keys and save a safetensors file, or map them in a "
        "python:MODULE:FACTORY spec (a recipe: docs/checkpoints.md in auditkit's repository)."
    )


def describe(obj: Any) -> str:
    """Stable JSON text for a preprocessing description."""
    return json.dumps(obj, sort_keys=True, default=str)
