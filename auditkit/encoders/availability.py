"""Whether a run's encoders can be built, told at start-up without building them.

A typo in a model name or weights that are not on this machine used to fail
every test case of the encoder, late, with one message repeated per case.
The plugin calls :func:`check_available` before collection instead: each
check is cheap (a name looked up in the library's table, a file that exists,
a hub-cache lookup with ``local_files_only``) and builds no model. Weights
missing from the cache pass when the hub can be asked: the build downloads
them. What no cheap check can tell (a ``python:`` factory that raises, a
checkpoint whose keys do not fit) stays the cases' error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from auditkit.encoders.extras import check_installed
from auditkit.encoders.spec import EncoderSpec
from auditkit.encoders.weights import (
    HubFile,
    check_weights_file,
    hub_only_repo,
    resolve_hub_file,
    resolve_hub_snapshot,
)

Check = Callable[[EncoderSpec, "str | None"], None]


def check_available(specs: Iterable[EncoderSpec], cache_dir: str | None = None) -> None:
    """Raise for the first of ``specs`` that cannot be built; build nothing.

    Raises
    ------
    SpecError
        A name the source's library does not know (close matches named).
    WeightsUnavailableError
        A ``@PATH`` or model file that does not exist, or hub weights neither
        cached nor reachable (the hub offline or out of reach).
    ConfigError
        ``random:`` or ``@PATH`` on a source that carries its own weights.
    """
    for spec in specs:
        check = CHECKS.get(spec.source)
        if check is not None:
            check(spec, cache_dir)
        if spec.weights_path is not None:
            check_weights_file(spec.weights_path, spec.raw)


def _needs_hub_weights(spec: EncoderSpec) -> bool:
    return not spec.random and spec.weights_path is None


def _timm(spec: EncoderSpec, cache_dir: str | None) -> None:
    from timm.models import get_pretrained_cfg

    from auditkit.encoders.timm_adapter import HUB_FILENAMES, check_name, no_hub_weights

    check_name(spec)
    repo = hub_only_repo(spec.name)
    if repo is not None:
        files = ["config.json", *(HUB_FILENAMES[:1] if _needs_hub_weights(spec) else [])]
        resolve_hub_snapshot(spec.canonical, repo, files, cache_dir, download=False)
    elif _needs_hub_weights(spec):
        cfg = get_pretrained_cfg(spec.name)
        if cfg is not None:
            if not cfg.hf_hub_id:
                raise no_hub_weights(spec, str(cfg.url))
            resolve_hub_file(spec.canonical, HubFile(cfg.hf_hub_id, HUB_FILENAMES), cache_dir,
                             download=False)


def _open_clip(spec: EncoderSpec, cache_dir: str | None) -> None:
    from auditkit.encoders.openclip_adapter import HUB_CONFIG, HUB_FILENAMES, check_names, hub_file

    check_names(spec)
    repo = hub_only_repo(spec.name)
    if repo is not None:
        files = [HUB_CONFIG, *(HUB_FILENAMES[:1] if _needs_hub_weights(spec) else [])]
        resolve_hub_snapshot(spec.canonical, repo, files, cache_dir, download=False)
    elif _needs_hub_weights(spec):
        resolve_hub_file(spec.canonical, hub_file(spec), cache_dir, download=False)


def _hf(spec: EncoderSpec, cache_dir: str | None) -> None:
    check_installed("transformers", "hf", spec.raw)
    from auditkit.encoders.hf_adapter import (
        HUB_PATTERNS,
        is_folder,
        resolve_folder,
        split_name,
        weight_files,
    )
    from auditkit.encoders.options import LoadOptions

    location, _ = split_name(spec)
    if is_folder(location) or location.count("/") != 1:
        # A local folder (or a malformed repo id): nothing is fetched.
        folder = resolve_folder(spec, LoadOptions(cache_dir=cache_dir))
    else:
        snapshot = resolve_hub_snapshot(spec.canonical, location, list(HUB_PATTERNS),
                                        cache_dir, download=False)
        if not snapshot:
            return  # the build downloads it
        folder = Path(snapshot)
    if not spec.random:
        weight_files(folder, spec)


def _model_file(kind: str) -> Check:
    def check(spec: EncoderSpec, cache_dir: str | None) -> None:
        from auditkit.encoders.export_adapter import model_file

        model_file(spec, kind)

    return check


def _onnx(spec: EncoderSpec, cache_dir: str | None) -> None:
    check_installed("onnxruntime", "onnx", spec.raw, " (or onnxruntime-gpu for CUDA)")
    _model_file("ONNX")(spec, cache_dir)


def _package(spec: EncoderSpec, cache_dir: str | None) -> None:
    from auditkit.encoders.packaged_weights import PACKAGES

    known = PACKAGES.get(spec.name)
    if known is not None and not spec.random:  # the random control needs only timm
        check_installed(known.module, known.extra, spec.raw)


#: The start-up check of each built-in source that has one; a source not
#: listed (``pixels``, ``python:``, a project's own) is checked by building it.
CHECKS: dict[str, Check] = {
    "timm": _timm,
    "open_clip": _open_clip,
    "hf": _hf,
    "torchscript": _model_file("TorchScript"),
    "export": _model_file("torch.export"),
    "onnx": _onnx,
    "package": _package,
}
