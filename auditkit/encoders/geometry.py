"""Where the model's input comes from in the source image: its resize and centre crop.

The masked control blanks the centre of *what the model sees*. An encoder
whose preprocessing yields the model's input tensor is masked on that tensor;
one that takes the PIL image (``python:`` objects with ``embed``, feature
encoders) is masked on the image, and for that auditkit must know which part
of the image its resize and centre crop keep. :class:`InputGeometry` says
so, in one place: adapters fill it from their transforms
(:meth:`InputGeometry.from_transform`), and a ``python:`` factory declares it
on the object it returns, as ``input_geometry``::

    class MyEncoder:
        input_geometry = {"resize": 256, "crop": 224}   # or InputGeometry(...)
        def embed(self, images): ...

or, when the object keeps a torchvision transform, with
``InputGeometry.from_transform(self.transform)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from auditkit.errors import ConfigError

#: How ``resize`` is read: the shorter side to ``resize`` (aspect kept), the
#: longer side to ``resize`` (aspect kept), or both sides to ``resize``.
RESIZE_MODES = ("shortest", "longest", "squash")

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


@dataclass(frozen=True)
class InputGeometry:
    """The resize and centre crop that turn a source image into the model's input.

    Parameters
    ----------
    resize : int or None
        Target size of the resize (read by ``resize_mode``); None: no resize,
        the model sees the native pixels.
    crop : tuple of int or None
        ``(height, width)`` of the centre crop after the resize, at most the
        resized image; None: no crop.
    resize_mode : str
        One of :data:`RESIZE_MODES`.
    interpolation : str
        Resampling filter name, used where auditkit reproduces the view
        (:meth:`view`), e.g. to count the border that reaches the model.

    Examples
    --------
    >>> g = InputGeometry(resize=256, crop=(224, 224))
    >>> g.visible_box(512, 512)
    (32.0, 32.0, 480.0, 480.0)
    >>> InputGeometry().visible_box(40, 30)
    (0.0, 0.0, 40.0, 30.0)
    """

    resize: int | None = None
    crop: tuple[int, int] | None = None
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise ConfigError(
                f"input_geometry resize_mode={self.resize_mode!r} is unknown: use one of "
                f"{RESIZE_MODES!r}")
        if self.interpolation not in _RESAMPLE:
            raise ConfigError(
                f"input_geometry interpolation={self.interpolation!r} is unknown: use one of "
                f"{tuple(_RESAMPLE)!r}")
        for name, value in (("resize", self.resize), *(("crop", c) for c in self.crop or ())):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ConfigError(
                    f"input_geometry {name}={value!r}: expected a positive number of pixels")

    def scale(self, width: int, height: int) -> tuple[float, float]:
        """Horizontal and vertical factors of the resize for a ``width`` x ``height`` image."""
        if self.resize is None:
            return 1.0, 1.0
        if self.resize_mode == "squash":
            return self.resize / width, self.resize / height
        side = min(width, height) if self.resize_mode == "shortest" else max(width, height)
        return self.resize / side, self.resize / side

    def visible_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` of the source region the model's input covers."""
        sx, sy = self.scale(width, height)
        if self.crop is None:
            return 0.0, 0.0, float(width), float(height)
        ch, cw = self.crop
        # A crop larger than the resized image is padded, not widened: the
        # source region is then the whole side.
        w = min(float(width), cw / sx)
        h = min(float(height), ch / sy)
        left, top = (width - w) / 2, (height - h) / 2
        return left, top, left + w, top + h

    def view(self, image: Image.Image) -> Image.Image:
        """``image`` as the model receives it (resized and cropped, before normalisation)."""
        sx, sy = self.scale(*image.size)
        if self.resize is not None:
            size = (max(1, round(image.width * sx)), max(1, round(image.height * sy)))
            image = image.resize(size, _RESAMPLE[self.interpolation])
        if self.crop is None:
            return image
        ch, cw = min(self.crop[0], image.height), min(self.crop[1], image.width)
        left, top = round((image.width - cw) / 2), round((image.height - ch) / 2)
        return image.crop((left, top, left + cw, top + ch))

    def as_params(self) -> dict[str, Any]:
        """JSON-able form, for variant parameters, cache keys and the card."""
        return {"resize": self.resize, "crop": list(self.crop) if self.crop else None,
                "resize_mode": self.resize_mode, "interpolation": self.interpolation}

    @classmethod
    def coerce(cls, value: Any, owner: str = "encoder") -> InputGeometry | None:
        """An :class:`InputGeometry` from itself, a mapping of its fields, or None.

        A ``crop`` may be one int (a square). ``owner`` names the encoder in errors.

        Examples
        --------
        >>> InputGeometry.coerce({"resize": 256, "crop": 224}).crop
        (224, 224)
        """
        if value is None or isinstance(value, InputGeometry):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{owner}: input_geometry={value!r} is neither an InputGeometry nor a mapping; "
                "declare e.g. input_geometry = {'resize': 256, 'crop': 224}")
        unknown = set(value) - {"resize", "crop", "resize_mode", "interpolation"}
        if unknown:
            raise ConfigError(
                f"{owner}: input_geometry has unknown keys {sorted(unknown)!r}; "
                "known: resize, crop, resize_mode, interpolation")
        given = value.get("crop")
        crop: tuple[int, int] | None = None
        if isinstance(given, int) and not isinstance(given, bool):
            crop = (given, given)
        elif isinstance(given, list | tuple) and len(given) == 2:
            crop = (given[0], given[1])
        elif given is not None:
            raise ConfigError(
                f"{owner}: input_geometry crop={given!r}: expected one int or (height, width)")
        return cls(resize=value.get("resize"), crop=crop,
                   resize_mode=value.get("resize_mode", "shortest"),
                   interpolation=str(value.get("interpolation", "bicubic")))

    @classmethod
    def from_transform(cls, transform: Any) -> InputGeometry | None:
        """The geometry of a torchvision ``Compose`` (``Resize`` then ``CenterCrop``).

        Colour, tensor and normalisation steps are passed over. Returns None
        when a step changes the geometry in a way not read here, so that no
        guess stands in for what the model sees.

        Examples
        --------
        >>> from torchvision import transforms as T
        >>> InputGeometry.from_transform(T.Compose([T.Resize(256), T.CenterCrop(224)]))
        InputGeometry(resize=256, crop=(224, 224), resize_mode='shortest', interpolation='bilinear')
        """
        resize: int | None = None
        crop: tuple[int, int] | None = None
        mode, interpolation = "shortest", "bicubic"
        for step in getattr(transform, "transforms", [transform]):
            name = type(step).__name__
            if name in ("Resize", "ResizeKeepRatio") and crop is None and resize is None:
                size = step.size
                if isinstance(size, int | float) or (isinstance(size, list | tuple)
                                                     and len(size) == 1):
                    resize = int(size if isinstance(size, int | float) else size[0])
                    mode = "longest" if getattr(step, "longest", 0) else "shortest"
                elif isinstance(size, list | tuple) and len(size) == 2 and size[0] == size[1]:
                    resize, mode = int(size[0]), "squash"
                else:
                    return None
                interp = getattr(step, "interpolation", "bicubic")
                interpolation = str(getattr(interp, "value", interp))
                if interpolation not in _RESAMPLE:
                    interpolation = "bicubic"
            elif name in ("CenterCrop", "CenterCropOrPad") and crop is None:
                size = step.size
                h, w = (size, size) if isinstance(size, int) else (size[0], size[-1])
                crop = (int(h), int(w))
            elif "Resize" in name or "Crop" in name or "Pad" in name or "Affine" in name:
                return None
        return cls(resize=resize, crop=crop, resize_mode=mode, interpolation=interpolation)
