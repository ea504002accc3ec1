"""A ``transformers`` image processor's config as torchvision transforms.

``preprocessor_config.json`` says how a checkpoint wants its pixels: resize
(to a shortest edge, or to a fixed height and width), centre crop, rescale
and normalise. The processor classes themselves hold state that does not
pickle cheaply and differ across ``transformers`` releases; the same steps as
torchvision transforms pickle into DataLoader workers and read the same on
every release. ConvNeXt's ``crop_pct`` (resize to ``edge / crop_pct``, then
crop ``edge``) is followed as its processor does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditkit.errors import WeightsUnavailableError

#: PIL resampling codes, as processor configs store them, to torchvision's names.
RESAMPLE = {0: "NEAREST", 1: "LANCZOS", 2: "BILINEAR", 3: "BICUBIC", 4: "BOX", 5: "HAMMING"}


def _size(value: Any, where: str, spec: str) -> dict[str, int]:
    if isinstance(value, int):
        return {"height": value, "width": value}
    if isinstance(value, Mapping) and value:
        return {str(k): int(v) for k, v in value.items()}
    raise WeightsUnavailableError(
        f"hf: preprocessor_config.json of {spec!r} has {where} = {value!r}: expected an integer "
        "or {'shortest_edge': N} / {'height': H, 'width': W}"
    )


def processor_transform(processor: Mapping[str, Any], spec: str) -> tuple[Any, dict[str, Any]]:
    """The torchvision pipeline of ``processor`` and a JSON description of its steps.

    Examples
    --------
    >>> t, d = processor_transform({"size": {"shortest_edge": 224},
    ...                             "crop_size": {"height": 224, "width": 224},
    ...                             "do_center_crop": True, "resample": 3,
    ...                             "image_mean": [0.5] * 3, "image_std": [0.5] * 3}, "x")
    >>> d["resize"], d["crop"]
    ({'shortest_edge': 224, 'mode': 'BICUBIC'}, [224, 224])
    """
    from torchvision import transforms as T

    resample = RESAMPLE.get(int(processor.get("resample", 2)), "BILINEAR")
    mode = getattr(T.InterpolationMode, resample)
    steps: list[Any] = []
    described: dict[str, Any] = {"resize": None, "crop": None}
    if processor.get("do_resize", True):
        size = _size(processor.get("size", 224), "size", spec)
        crop_pct = processor.get("crop_pct")
        if "shortest_edge" in size:
            edge = size["shortest_edge"]
            if crop_pct is not None and edge < 384:
                resized = int(edge / float(crop_pct))
                steps += [T.Resize(resized, interpolation=mode), T.CenterCrop(edge)]
                described["crop"] = [edge, edge]
            elif crop_pct is not None:
                # ConvNeXt at 384 px and above warps to a square, with no crop.
                resized = edge
                steps.append(T.Resize((edge, edge), interpolation=mode))
            else:
                resized = edge
                steps.append(T.Resize(edge, interpolation=mode))
            described["resize"] = {"shortest_edge": resized, "mode": resample}
        elif {"height", "width"} <= set(size):
            steps.append(T.Resize((size["height"], size["width"]), interpolation=mode))
            described["resize"] = {"height": size["height"], "width": size["width"],
                                   "mode": resample}
        else:
            raise WeightsUnavailableError(
                f"hf: preprocessor_config.json of {spec!r} has size = {size!r}: auditkit "
                "follows 'shortest_edge' or 'height'/'width'"
            )
    if processor.get("do_center_crop", False):
        crop = _size(processor.get("crop_size", 224), "crop_size", spec)
        steps.append(T.CenterCrop((crop["height"], crop["width"])))
        described["crop"] = [crop["height"], crop["width"]]
    steps.append(T.ToTensor())  # scales to [0, 1], i.e. rescale_factor 1/255
    if processor.get("do_rescale", True):
        factor = float(processor.get("rescale_factor", 1 / 255)) * 255.0
    else:
        factor = 255.0
    if abs(factor - 1.0) > 1e-9:
        steps.append(T.Normalize([0.0] * 3, [1.0 / factor] * 3))
    described["rescale"] = factor / 255.0
    if processor.get("do_normalize", True):
        mean = [float(v) for v in processor.get("image_mean", [0.5] * 3)]
        std = [float(v) for v in processor.get("image_std", [0.5] * 3)]
        steps.append(T.Normalize(mean, std))
        described.update(mean=mean, std=std)
    return T.Compose(steps), described
