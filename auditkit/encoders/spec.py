"""Parsing encoder specs and resolving aliases.

Grammar (one function parses it, :func:`parse_spec`)::

    SPEC      := ["random:"] BASE ["@" PATH]
    BASE      := ALIAS | "pixels" | "open_clip:" ARCH ["/" PRETRAINED] | "timm:" NAME
               | "torchscript:" PATH | "python:" MODULE ":" FACTORY

``random:`` builds the same architecture and preprocessing with seeded random
weights (the control). ``@PATH`` loads local weights into the architecture.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from auditkit.errors import SpecError

#: Sources a spec can name, with the form each expects.
SOURCES: dict[str, str] = {
    "pixels": "pixels",
    "open_clip": "open_clip:ARCH/PRETRAINED",
    "timm": "timm:NAME",
    "torchscript": "torchscript:PATH",
    "python": "python:MODULE:FACTORY",
}


@dataclass(frozen=True)
class Alias:
    target: str
    description: str


#: Encoders the two papers study, resolving to well-known hub checkpoints.
ALIASES: dict[str, Alias] = {
    "clip": Alias("open_clip:ViT-B-32/openai", "CLIP ViT-B/32, OpenAI weights"),
    "clip-b16": Alias("open_clip:ViT-B-16/openai", "CLIP ViT-B/16, OpenAI weights"),
    "clip-l14": Alias("open_clip:ViT-L-14/openai", "CLIP ViT-L/14, OpenAI weights"),
    "openclip-laion": Alias(
        "open_clip:ViT-B-32/laion2b_s34b_b79k", "OpenCLIP ViT-B/32 trained on LAION-2B"
    ),
    "siglip": Alias("open_clip:ViT-B-16-SigLIP/webli", "SigLIP ViT-B/16, WebLI"),
    "dinov2": Alias("timm:vit_base_patch14_dinov2.lvd142m", "DINOv2 ViT-B/14 (self-supervised)"),
    "dino": Alias("timm:vit_base_patch16_224.dino", "DINO ViT-B/16 (self-supervised)"),
    "mae": Alias("timm:vit_base_patch16_224.mae", "MAE ViT-B/16 (masked autoencoder)"),
    "vit": Alias(
        "timm:vit_base_patch16_224.augreg2_in21k_ft_in1k", "supervised ViT-B/16, ImageNet-21k/1k"
    ),
    "resnet50": Alias("timm:resnet50.a1_in1k", "supervised ResNet-50, ImageNet-1k"),
    "convnext": Alias(
        "timm:convnext_base.fb_in22k_ft_in1k", "supervised ConvNeXt-B, ImageNet-22k/1k"
    ),
}


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed encoder spec.

    Examples
    --------
    >>> parse_spec("random:clip").name
    'ViT-B-32'
    >>> parse_spec("timm:resnet18@ft.pth").weights_path
    'ft.pth'
    """

    raw: str
    source: str
    name: str = ""
    pretrained: str = ""
    random: bool = False
    weights_path: str | None = None

    @property
    def canonical(self) -> str:
        """The spec with aliases resolved (what enters the fingerprint)."""
        base = self.source if self.source == "pixels" else f"{self.source}:{self.name}"
        if self.source == "open_clip" and self.pretrained:
            base += f"/{self.pretrained}"
        if self.random:
            base = f"random:{base}"
        if self.weights_path:
            base += f"@{self.weights_path}"
        return base

    def without_weights(self) -> EncoderSpec:
        return replace(self, weights_path=None)


def _close(value: str, choices: list[str]) -> str:
    matches = difflib.get_close_matches(value, choices, n=5, cutoff=0.5)
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


def parse_spec(raw: str) -> EncoderSpec:
    """Parse an encoder spec string; raise :class:`SpecError` naming close matches."""
    if not isinstance(raw, str) or not raw.strip():
        raise SpecError(f"encoder spec {raw!r} is empty: expected e.g. 'clip' or 'timm:resnet50'")
    text = raw.strip()
    base, sep, path = text.partition("@")
    if sep and not path:
        raise SpecError(f"encoder spec {raw!r} ends with '@': expected SPEC@PATH to a weights file")
    random = False
    if base.startswith("random:"):
        random, base = True, base[len("random:") :]
        if sep:
            raise SpecError(
                f"encoder spec {raw!r} asks for random weights and a weights file at once: "
                "drop 'random:' or '@PATH'"
            )
    if base in ALIASES:
        parsed = _parse_base(ALIASES[base].target, raw)
    else:
        parsed = _parse_base(base, raw)
    return replace(parsed, random=random, weights_path=path or None)


def _parse_base(base: str, raw: str) -> EncoderSpec:
    if base == "pixels":
        return EncoderSpec(raw=raw, source="pixels")
    source, colon, rest = base.partition(":")
    if not colon:
        names = sorted([*ALIASES, *SOURCES])
        raise SpecError(
            f"unknown encoder {base!r} in spec {raw!r}.{_close(base, names)} "
            f"Known aliases: {', '.join(sorted(ALIASES))}; forms: {', '.join(SOURCES.values())}"
        )
    if source not in SOURCES:
        raise SpecError(
            f"unknown encoder source {source!r} in spec {raw!r}.{_close(source, list(SOURCES))} "
            f"Expected one of: {', '.join(SOURCES.values())}"
        )
    if not rest:
        raise SpecError(f"encoder spec {raw!r} names no model: expected {SOURCES[source]}")
    if source == "open_clip":
        arch, _, pretrained = rest.partition("/")
        return EncoderSpec(raw=raw, source=source, name=arch, pretrained=pretrained)
    if source == "python":
        module, colon2, factory = rest.rpartition(":")
        if not colon2 or not module or not factory:
            raise SpecError(f"encoder spec {raw!r} is malformed: expected {SOURCES['python']}")
        return EncoderSpec(raw=raw, source=source, name=f"{module}:{factory}")
    return EncoderSpec(raw=raw, source=source, name=rest)


def suggest(value: str, choices: list[str]) -> str:
    """A ' Did you mean: ...?' suffix for error messages (empty when none is close)."""
    return _close(value, choices)
