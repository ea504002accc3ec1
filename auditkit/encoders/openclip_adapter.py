"""``open_clip:ARCH/PRETRAINED``: OpenCLIP and OpenAI CLIP image towers."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec, suggest
from auditkit.encoders.weights import (
    HubFile,
    file_sha256,
    hub_only_repo,
    load_checkpoint,
    load_into,
    resolve_hub_file,
    resolve_hub_snapshot,
    snapshot_file,
    state_dict_sha256,
)
from auditkit.errors import SpecError, WeightsUnavailableError

if TYPE_CHECKING:
    from auditkit.encoders.torch_encoder import TorchEncoder

#: File names open_clip publishes on the hub, safest first.
HUB_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
#: The architecture and preprocessing of a hub-only model.
HUB_CONFIG = "open_clip_config.json"


def check_names(spec: EncoderSpec) -> None:
    import open_clip

    if hub_only_repo(spec.name) is not None:
        return  # the architecture is named by the repo's open_clip_config.json
    archs = open_clip.list_models()
    if spec.name not in archs:
        raise SpecError(
            f"open_clip has no architecture {spec.name!r} (spec {spec.raw!r})."
            f"{suggest(spec.name, archs)}"
        )
    tags = open_clip.list_pretrained_tags_by_model(spec.name)
    if spec.pretrained and spec.pretrained not in tags:
        raise SpecError(
            f"open_clip has no pretrained tag {spec.pretrained!r} for {spec.name!r} "
            f"(spec {spec.raw!r}).{suggest(spec.pretrained, tags)} Known tags: {', '.join(tags)}"
        )
    if not spec.pretrained and not spec.random and not spec.weights_path:
        raise SpecError(
            f"spec {spec.raw!r} names no weights: use open_clip:{spec.name}/TAG "
            f"(tags: {', '.join(tags) or 'none'}), random:{spec.raw} or {spec.raw}@PATH"
        )


def hub_file(spec: EncoderSpec) -> HubFile:
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(spec.name, spec.pretrained)
    hub = cfg.get("hf_hub", "")
    if not hub:
        raise WeightsUnavailableError(
            f"open_clip weights {spec.name}/{spec.pretrained} (spec {spec.raw!r}) are published "
            f"only at {cfg.get('url')!r}, which auditkit does not fetch: download the file "
            f"yourself and pass --encoder '{spec.raw}@PATH'"
        )
    repo_id, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub[:-1], "")
    return HubFile(repo_id, (filename,) if filename else HUB_FILENAMES)


def _arch_and_tag(rest: str) -> tuple[str, str]:
    if hub_only_repo(rest) is not None:
        return rest, ""  # hf-hub:OWNER/NAME: the repo is the whole name
    arch, _, pretrained = rest.partition("/")
    return arch, pretrained


@register_source("open_clip", form="open_clip:ARCH/PRETRAINED", parse=_arch_and_tag)
def build_open_clip(spec: EncoderSpec, options: LoadOptions) -> TorchEncoder:
    import open_clip
    import torch

    from auditkit.encoders.torch_encoder import TorchEncoder, describe_transform

    check_names(spec)
    weights_file = None
    repo = hub_only_repo(spec.name)
    name = spec.name
    need_weights = spec.weights_path is None and not spec.random
    if repo is not None:
        folder = resolve_hub_snapshot(
            spec.canonical, repo, [HUB_CONFIG, *(HUB_FILENAMES[:1] if need_weights else [])],
            options.cache_dir)
        name = f"local-dir:{folder}"
        if need_weights:
            weights_file = snapshot_file(folder, HUB_FILENAMES[0], spec.raw)
    elif need_weights:
        weights_file = resolve_hub_file(spec.canonical, hub_file(spec), options.cache_dir)
    torch.manual_seed(options.seed)
    # Built without weights, then loaded explicitly: open_clip's own download path
    # retries the hub for a minute and ends in a bare RuntimeError.
    with _quiet_random_init_notice():
        model, _, preprocess = open_clip.create_model_and_transforms(
            name,
            pretrained=None,
            # The preprocessing of the named checkpoint, even for random weights.
            **_preprocess_overrides(spec),
            **({"load_weights": False} if repo is not None else {}),
        )
    if weights_file is not None:
        source, sha = weights_file, file_sha256(weights_file)
        load_into(model, load_checkpoint(weights_file, spec.raw), weights_file, spec.raw)
    elif spec.weights_path:
        source, sha = spec.weights_path, file_sha256(spec.weights_path)
        state = load_checkpoint(spec.weights_path, spec.raw)
        try:
            load_into(model, state, spec.weights_path, spec.raw)
        except WeightsUnavailableError:
            load_into(model.visual, state, spec.weights_path, spec.raw)
    else:
        source, sha = f"random init, seed {options.seed}", state_dict_sha256(model.state_dict())
    # The text tower is never used: drop it so it costs no memory on the device.
    visual = model.visual
    return TorchEncoder(
        spec=spec.canonical,
        module=visual,
        forward=visual,
        transform=preprocess,
        preprocessing=describe_transform(preprocess),
        weights_sha256=sha,
        weights_source=source,
    )


class _DropRandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _quiet_random_init_notice() -> Iterator[None]:
    """open_clip warns that the model is random; auditkit loads the weights itself next."""
    root = logging.getLogger()
    notice = _DropRandomInitNotice()
    root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def _preprocess_overrides(spec: EncoderSpec) -> dict[str, object]:
    if not spec.pretrained:
        return {}
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(spec.name, spec.pretrained)
    out: dict[str, object] = {}
    for key, arg in (
        ("mean", "image_mean"),
        ("std", "image_std"),
        ("interpolation", "image_interpolation"),
        ("resize_mode", "image_resize_mode"),
    ):
        if key in cfg:
            out[arg] = cfg[key]
    if cfg.get("quick_gelu"):
        out["force_quick_gelu"] = True
    return out
