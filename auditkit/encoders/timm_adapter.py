"""``timm:NAME``: any timm image model, pooled features (no classifier head)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    strip_wrappers,
)
from auditkit.errors import SpecError, WeightsUnavailableError

if TYPE_CHECKING:
    from auditkit.encoders.torch_encoder import TorchEncoder

HUB_FILENAMES = ("model.safetensors", "pytorch_model.bin")


def check_name(spec: EncoderSpec) -> None:
    import timm

    if hub_only_repo(spec.name) is not None:
        return  # the architecture is named by the repo's config.json
    arch = spec.name.split(".")[0]
    if not timm.is_model(arch):
        raise SpecError(
            f"timm has no model {arch!r} (spec {spec.raw!r}).{suggest(arch, timm.list_models())}"
        )
    if "." in spec.name and spec.name not in timm.list_pretrained(arch + ".*"):
        tags = timm.list_pretrained(arch + ".*")
        raise SpecError(
            f"timm has no pretrained weights {spec.name!r} (spec {spec.raw!r})."
            f"{suggest(spec.name, tags)} Known: {', '.join(tags) or 'none'}"
        )


@register_source("timm", form="timm:NAME")
def build_timm(spec: EncoderSpec, options: LoadOptions) -> TorchEncoder:
    import timm
    import torch

    check_name(spec)
    repo = hub_only_repo(spec.name)
    folder = None
    if repo is not None:
        # Only the hub knows this architecture: its config.json first, from the cache.
        need_weights = not spec.random and not spec.weights_path
        folder = resolve_hub_snapshot(
            spec.canonical, repo, ["config.json", *(HUB_FILENAMES[:1] if need_weights else [])],
            options.cache_dir)
    torch.manual_seed(options.seed)
    name = spec.name if folder is None else f"local-dir:{folder}"
    model = timm.create_model(name, pretrained=False, num_classes=0)
    if spec.random:
        source, sha = f"random init, seed {options.seed}", state_dict_sha256(model.state_dict())
    else:
        path = spec.weights_path or (
            snapshot_file(folder, HUB_FILENAMES[0], spec.raw) if folder is not None
            else _hub_weights(model, spec, options))
        state = strip_wrappers(load_checkpoint(path, spec.raw))
        # Classifier weights do not fit a headless model; they play no part in features.
        default_cfg: Any = model.default_cfg
        head = {f"{default_cfg.get('classifier', 'head')}.{s}" for s in ("weight", "bias")}
        state = {k: v for k, v in state.items() if k not in head}
        try:
            load_into(model, state, path, spec.raw)
        except WeightsUnavailableError:
            # Original-format checkpoints need the architecture's own conversion.
            load_into(model, _filter_fn(model)(state), path, spec.raw)
        source, sha = path, file_sha256(path)
    return timm_encoder(model, spec=spec.canonical, weights_sha256=sha, weights_source=source)


def timm_encoder(model: Any, *, spec: str, weights_sha256: str | None,
                 weights_source: str) -> TorchEncoder:
    """A timm model built here, as an encoder set up for inference on its architecture.

    Batch norms are folded into their convolutions in the copy that runs the
    batches (checked, see :mod:`auditkit.encoders.fusion`; ``module`` stays
    the model as loaded), and architectures measured faster in
    channels_last on the CPU run so there: real weights or random ones, the
    cost is the architecture's business.
    """
    import torch
    from timm.data import resolve_data_config

    from auditkit.encoders.fusion import folded_copy
    from auditkit.encoders.placement import cpu_channels_last
    from auditkit.encoders.torch_encoder import TorchEncoder

    config = resolve_data_config({}, model=model)
    model.eval()
    example = torch.randn(2, *config["input_size"], generator=torch.Generator().manual_seed(0))
    encoder = TorchEncoder.from_timm_config(
        model, config, spec=spec, weights_sha256=weights_sha256, weights_source=weights_source,
        forward=folded_copy(model, example))
    encoder.cpu_channels_last = cpu_channels_last(model.pretrained_cfg.get("architecture") or "")
    return encoder


def no_hub_weights(spec: EncoderSpec, url: str | None) -> WeightsUnavailableError:
    """The error of a timm model whose weights are only at a URL: auditkit fetches from the hub."""
    return WeightsUnavailableError(
        f"timm model {spec.name!r} (spec {spec.raw!r}) has no hub weights "
        f"(url {url!r}): pass --encoder '{spec.raw}@PATH' with a local file"
    )


def _hub_weights(model: Any, spec: EncoderSpec, options: LoadOptions) -> str:
    cfg = model.pretrained_cfg
    repo = cfg.get("hf_hub_id")
    if not repo:
        raise no_hub_weights(spec, cfg.get("url"))
    return resolve_hub_file(spec.canonical, HubFile(repo, HUB_FILENAMES), options.cache_dir)


def _filter_fn(model: Any) -> Any:
    """The architecture's own checkpoint filter (e.g. ViT position-embedding resizing)."""
    import sys

    module = sys.modules.get(type(model).__module__)
    fn = getattr(module, "checkpoint_filter_fn", None)
    if fn is None:
        return lambda state: state
    return lambda state: fn(state, model)
