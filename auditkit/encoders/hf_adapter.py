"""``hf:REPO_OR_FOLDER[#pool=POOL]``: a Hugging Face ``transformers`` vision model.

The spec names a hub repo (``hf:facebook/dinov2-base``) or a folder written by
``save_pretrained`` (``hf:./my-finetune``: ``config.json``, ``*.safetensors``
and ``preprocessor_config.json``). A folder needs no network; a repo is read
from the hub cache first and fetched only where the hub answers
(:func:`~auditkit.encoders.weights.resolve_hub_snapshot`).

Each ``model_type`` of the config maps to one model class and one default
pooling (:data:`FAMILIES`); anything else falls back to ``AutoModel``. What
the embedding is:

========  ================================  ======================================
family    model class                       default pooling
========  ================================  ======================================
clip      CLIPVisionModelWithProjection     ``image_embeds`` (the projection CLIP
                                            matches text against)
siglip    SiglipVisionModel                 ``pooler`` (the attention-pooling head)
dinov2    Dinov2Model                       ``cls`` (the layer-normed class token,
                                            what DINOv2's linear probes read)
vit       ViTModel (no pooling layer)       ``cls``
vit_mae   ViTMAEModel, masking off          ``cls``
convnext  ConvNextModel                     ``pooler`` (normed global average)
other     AutoModel                         ``pooler`` where the output has one,
                                            else ``mean`` over tokens
========  ================================  ======================================

``#pool=cls|mean|pooler|image_embeds`` overrides it. The preprocessing is
read from ``preprocessor_config.json`` and built as torchvision transforms
(picklable, so DataLoader workers can run them). The fingerprint covers the
weight files' bytes, the processor config and the pooling.

Only safetensors weights are loaded: a repo that ships nothing but a pickled
``pytorch_model.bin`` is refused with the conversion to run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.encoders.base import stable_hash
from auditkit.encoders.extras import require
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec
from auditkit.encoders.weights import (
    file_sha256,
    load_checkpoint,
    load_into,
    resolve_hub_snapshot,
    state_dict_sha256,
)
from auditkit.errors import SpecError, WeightsUnavailableError

if TYPE_CHECKING:
    import torch

    from auditkit.encoders.torch_encoder import TorchEncoder

#: Poolings a spec may ask for.
POOLS = ("cls", "mean", "pooler", "image_embeds")

#: Files of a hub repo that an audit needs: configs and safetensors weights.
HUB_PATTERNS = ("*.json", "*.safetensors")


@dataclass(frozen=True)
class Family:
    """How one ``model_type`` is built and pooled."""

    model: str
    config: str
    pool: str
    #: Keyword arguments of the model's constructor.
    kwargs: tuple[tuple[str, Any], ...] = ()


FAMILIES: dict[str, Family] = {
    "clip": Family("CLIPVisionModelWithProjection", "CLIPVisionConfig", "image_embeds"),
    "siglip": Family("SiglipVisionModel", "SiglipVisionConfig", "pooler"),
    # A vision tower saved on its own.
    "clip_vision_model": Family("CLIPVisionModelWithProjection", "CLIPVisionConfig",
                                "image_embeds"),
    "siglip_vision_model": Family("SiglipVisionModel", "SiglipVisionConfig", "pooler"),
    "dinov2": Family("Dinov2Model", "Dinov2Config", "cls"),
    "vit": Family("ViTModel", "ViTConfig", "cls", (("add_pooling_layer", False),)),
    "vit_mae": Family("ViTMAEModel", "ViTMAEConfig", "cls"),
    "convnext": Family("ConvNextModel", "ConvNextConfig", "pooler"),
}
FALLBACK = Family("AutoModel", "AutoConfig", "auto")


def parse_hf(rest: str) -> tuple[str, str] | None:
    """``REPO_OR_FOLDER[#pool=POOL]`` -> ``(rest, "")``: the whole text is the name.

    Examples
    --------
    >>> parse_hf("facebook/dinov2-base#pool=mean")
    ('facebook/dinov2-base#pool=mean', '')
    >>> parse_hf("facebook/dinov2-base#pool=") is None
    True
    """
    location, _, options = rest.partition("#")
    if not location:
        return None
    if options:
        try:
            _options(options)
        except SpecError:
            return None
    return rest, ""


def _options(text: str) -> dict[str, str]:
    """``pool=mean`` -> ``{"pool": "mean"}``; SpecError on anything else."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if key != "pool" or not eq or value not in POOLS:
            raise SpecError(
                f"hf: option {item!r} is not understood: expected pool={'|'.join(POOLS)}"
            )
        out[key] = value
    return out


def split_name(spec: EncoderSpec) -> tuple[str, str | None]:
    """The repo or folder of ``spec`` and its ``#pool=`` override (None: the family's)."""
    location, _, options = spec.name.partition("#")
    return location, _options(options).get("pool") if options else None


def is_folder(location: str) -> bool:
    """Whether ``location`` names a local folder rather than a hub repo id."""
    return location.startswith((".", "/", "~")) or Path(location).expanduser().is_dir()


def resolve_folder(spec: EncoderSpec, options: LoadOptions) -> Path:
    """The local folder of ``spec``'s model: the user's own, or the hub snapshot."""
    location, _ = split_name(spec)
    if is_folder(location):
        folder = Path(location).expanduser()
        if not (folder / "config.json").is_file():
            raise WeightsUnavailableError(
                f"hf: folder {str(folder)!r} (spec {spec.raw!r}) has no config.json: expected "
                "a folder written by save_pretrained (config.json, model.safetensors, "
                "preprocessor_config.json)"
            )
        return folder
    if location.count("/") != 1:
        raise SpecError(
            f"hf: {location!r} (spec {spec.raw!r}) is neither a folder nor a hub repo id "
            "(OWNER/NAME)"
        )
    return Path(resolve_hub_snapshot(spec.canonical, location, HUB_PATTERNS, options.cache_dir))


#: Config keys that name or date a checkpoint rather than shape its architecture.
NOT_ARCHITECTURE = frozenset({"_name_or_path", "transformers_version", "torch_dtype", "dtype",
                              "architectures", "id2label", "label2id", "auto_map"})


def architecture_key(spec: EncoderSpec, cache_dir: str | None = None) -> str | None:
    """What a fine-tune shares with its base: the config without names, dates and labels.

    Read without the network: a folder's ``config.json``, or a hub repo's from
    the hub cache; None when neither is at hand. Two ``save_pretrained``
    folders of one architecture give the same key whatever their paths.
    """
    location, _ = split_name(spec)
    path: Path | None = None
    if is_folder(location):
        path = Path(location).expanduser() / "config.json"
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(location, "config.json", cache_dir=cache_dir)
        path = Path(cached) if isinstance(cached, str) else None
    if path is None or not path.is_file():
        return None
    try:
        config = read_json(path)
    except WeightsUnavailableError:
        return None
    shape = {k: v for k, v in config.items() if k not in NOT_ARCHITECTURE}
    return f"hf:{config.get('model_type', '?')}:{stable_hash(shape)[:16]}"


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsUnavailableError(f"{str(path)!r} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WeightsUnavailableError(f"{str(path)!r} holds no JSON object")
    return data


def weight_files(folder: Path, spec: EncoderSpec) -> list[Path]:
    """The safetensors files of ``folder``; refuses a pickle-only checkpoint."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickled = sorted(p.name for p in folder.glob("*.bin"))
        hint = (f" It has {pickled!r}, pickles that run code when loaded: convert them with "
                "`model.save_pretrained(folder, safe_serialization=True)` on a trusted machine."
                if pickled else "")
        raise WeightsUnavailableError(
            f"hf: {str(folder)!r} (spec {spec.raw!r}) has no *.safetensors weights.{hint}"
        )
    return files


def files_sha256(files: list[Path]) -> str:
    """One SHA-256 over the names and digests of ``files``."""
    h = hashlib.sha256()
    for path in files:
        h.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return h.hexdigest()


def family_of(config: Mapping[str, Any]) -> Family:
    return FAMILIES.get(str(config.get("model_type", "")), FALLBACK)


@register_source("hf", form="hf:REPO_OR_FOLDER[#pool=POOL]", parse=parse_hf)
def build_hf(spec: EncoderSpec, options: LoadOptions) -> TorchEncoder:
    transformers = require("transformers", "hf", spec.raw)
    import torch

    from auditkit.encoders.processor_config import processor_transform
    from auditkit.encoders.torch_encoder import TorchEncoder

    folder = resolve_folder(spec, options)
    raw_config = read_json(folder / "config.json")
    family = family_of(raw_config)
    _, pool = split_name(spec)
    pool = pool or family.pool
    processor_path = folder / "preprocessor_config.json"
    if not processor_path.is_file():
        raise WeightsUnavailableError(
            f"hf: {str(folder)!r} (spec {spec.raw!r}) has no preprocessor_config.json: save "
            "the image processor beside the model (processor.save_pretrained(folder))"
        )
    processor = read_json(processor_path)
    config = getattr(transformers, family.config).from_pretrained(str(folder))
    if family.model == "ViTMAEModel":
        config.mask_ratio = 0.0  # every patch is seen: the audit wants the whole image
    if "projection_dim" in raw_config and hasattr(config, "projection_dim"):
        # A whole CLIP model keeps its projection width beside, not inside, vision_config.
        config.projection_dim = raw_config["projection_dim"]
    model_cls = getattr(transformers, family.model)
    kwargs = dict(family.kwargs)
    if spec.random:
        torch.manual_seed(options.seed)
        model = _fresh(model_cls, config, kwargs)
        source, sha = f"random init, seed {options.seed}", state_dict_sha256(model.state_dict())
    elif spec.weights_path:
        model = _fresh(model_cls, config, kwargs)
        load_into(model, load_checkpoint(spec.weights_path, spec.raw), spec.weights_path,
                  spec.raw)
        source, sha = spec.weights_path, file_sha256(spec.weights_path)
    else:
        files = weight_files(folder, spec)
        with _quiet(transformers):
            # The text tower of a whole CLIP checkpoint is reported as unused
            # keys, loudly; it is meant to be left out.
            model = model_cls.from_pretrained(str(folder), config=config,
                                              use_safetensors=True, **kwargs)
        source, sha = str(folder), files_sha256(files)
    model.eval()
    transform, described = processor_transform(processor, spec.raw)
    return TorchEncoder(
        spec=spec.canonical,
        module=model,
        forward=Pooled(model, pool, family.model == "ViTMAEModel"),
        transform=transform,
        preprocessing={"processor": processor, "transform": described, "pool": pool,
                       "model_class": type(model).__name__},
        weights_sha256=sha,
        weights_source=source,
    )


def _fresh(model_cls: Any, config: Any, kwargs: Mapping[str, Any]) -> Any:
    """The architecture with freshly initialised weights (``AutoModel`` builds from a config)."""
    return (model_cls.from_config(config, **kwargs) if hasattr(model_cls, "from_config")
            and model_cls.__name__ == "AutoModel" else model_cls(config, **kwargs))


@contextlib.contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """transformers' loading reports and progress bars off, restored after."""
    logging = transformers.utils.logging
    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


class Pooled:
    """``batch -> (B, D)``: the model's output pooled as ``pool`` says.

    ViT-MAE shuffles its patches by a random noise even with masking off;
    an ordered noise keeps every patch in place, so the same image gives the
    same embedding twice.
    """

    def __init__(self, model: Any, pool: str, ordered_noise: bool) -> None:
        self.model = model
        self.pool = pool
        self.ordered_noise = ordered_noise

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        kwargs: dict[str, Any] = {}
        if self.ordered_noise:
            patches = _patch_count(self.model.config)
            kwargs["noise"] = torch.arange(patches, device=batch.device, dtype=torch.float32
                                           ).expand(len(batch), patches)
        out = self.model(pixel_values=batch, **kwargs)
        return pool_output(out, self.pool)


def _patch_count(config: Any) -> int:
    size, patch = config.image_size, config.patch_size
    size = size if isinstance(size, (list, tuple)) else (size, size)
    patch = patch if isinstance(patch, (list, tuple)) else (patch, patch)
    return int((size[0] // patch[0]) * (size[1] // patch[1]))


_POOLERS: dict[str, Callable[[Any], Any]] = {
    "image_embeds": lambda out: getattr(out, "image_embeds", None),
    "pooler": lambda out: getattr(out, "pooler_output", None),
    "cls": lambda out: out.last_hidden_state[:, 0],
    "mean": lambda out: _mean_tokens(out.last_hidden_state),
}


def _mean_tokens(hidden: torch.Tensor) -> torch.Tensor:
    # (B, T, D) tokens, or (B, C, H, W) maps of a convolutional model.
    return hidden.mean(dim=1) if hidden.ndim == 3 else hidden.mean(dim=(2, 3))


def pool_output(out: Any, pool: str) -> torch.Tensor:
    """``(B, D)`` features of a model output; a pooling the output lacks is an error."""
    if pool == "auto":
        # The AutoModel fall-back: its pooling head where it has one, else the token mean.
        pool = "pooler" if getattr(out, "pooler_output", None) is not None else "mean"
    value = _POOLERS[pool](out)
    if value is None:
        raise SpecError(f"hf: this model's output has no {pool!r}: choose #pool=cls or mean")
    value = value.flatten(1) if value.ndim > 2 else value
    return value
