"""Camera labels from EXIF ``Make``/``Model`` or from manifest columns.

The camera audit of Ramos et al. uses exact EXIF values as classes. Exact,
but not byte-for-byte: the same camera writes ``"NIKON CORPORATION"`` and
``"NIKON D70"`` while a converter rewrites them as ``"Nikon"`` and ``"D70 "``,
so values are cleaned before they become classes:

* NUL padding and surrounding whitespace are stripped, inner whitespace is
  collapsed, and classes are matched case-folded while the most common
  spelling is kept for display;
* maker names with corporate suffixes are mapped to one display form
  (:data:`MAKER_ALIASES`: ``"NIKON CORPORATION"`` -> ``"NIKON"``,
  ``"EASTMAN KODAK COMPANY"`` -> ``"KODAK"``, ``"LG Electronics"`` -> ``"LG"``);
  a maker that is not in the table keeps its cleaned text;
* a model that repeats the make (``Model="NIKON D70"`` with ``Make="NIKON"``)
  loses the repetition, so the label is ``"Make Model"`` with the make once.

A value of the wrong type, with invalid UTF-8 (or the replacement character
``read_exif`` leaves for it), control characters, an absurd length or a
placeholder such as ``"Unknown"`` counts as missing, with the reason.

Manifest columns win over EXIF: an image whose manifest row has a non-empty
``camera`` column (the whole ``"Make Model"`` text), or ``make``/``model``
columns (any case), is labelled from them, and its EXIF is not read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditkit.data.base import SourceImage

__all__ = [
    "LEVELS",
    "LEVEL_CHOICES",
    "MAKER_ALIASES",
    "MAX_FIELD_CHARS",
    "Camera",
    "CameraLabels",
    "camera_label",
    "canonical_make",
    "choose_level",
    "clean_field",
    "is_smartphone",
    "label_images",
    "normalise_camera",
    "read_camera",
    "strip_make",
]

#: Levels of camera labels: ``"Make Model"``, ``"Make"``, or smartphone or not.
LEVELS: tuple[str, ...] = ("model", "make", "smartphone")

#: What a run may ask for: a level, or ``"auto"`` (:func:`choose_level`).
LEVEL_CHOICES: tuple[str, ...] = ("auto", *LEVELS)

#: Longer Make/Model values are not camera names (real ones stay under 45).
MAX_FIELD_CHARS = 64

SMARTPHONE = "smartphone"
OTHER_CAMERA = "other camera"

#: Maker key (case-folded, punctuation and corporate suffixes removed) -> display form.
MAKER_ALIASES: dict[str, str] = {
    "apple": "Apple",
    "asahi optical": "PENTAX",
    "asus": "ASUS",
    "blackberry": "BlackBerry",
    "canon": "Canon",
    "casio": "CASIO",
    "dji": "DJI",
    "eastman kodak": "KODAK",
    "fairphone": "Fairphone",
    "fuji": "FUJIFILM",
    "fuji photo film": "FUJIFILM",
    "fujifilm": "FUJIFILM",
    "google": "Google",
    "gopro": "GoPro",
    "hasselblad": "Hasselblad",
    "honor": "HONOR",
    "htc": "HTC",
    "huawei": "HUAWEI",
    "kodak": "KODAK",
    "konica minolta": "KONICA MINOLTA",
    "leica": "Leica",
    "lenovo": "Lenovo",
    "lg": "LG",
    "lge": "LG",
    "meizu": "Meizu",
    "microsoft": "Microsoft",
    "minolta": "Minolta",
    "motorola": "Motorola",
    "nikon": "NIKON",
    "nokia": "Nokia",
    "olympus": "OLYMPUS",
    "oneplus": "OnePlus",
    "oppo": "OPPO",
    "panasonic": "Panasonic",
    "pentax": "PENTAX",
    "realme": "realme",
    "research in motion": "BlackBerry",
    "ricoh": "RICOH",
    "samsung": "SAMSUNG",
    "sigma": "SIGMA",
    "sony": "SONY",
    "sony ericsson": "Sony Ericsson",
    "vivo": "vivo",
    "xiaomi": "Xiaomi",
    "zte": "ZTE",
}

# Trailing words that name the company form, not the maker.
_SUFFIXES = frozenset(
    "ag camera co company computer corp corporation electronics electronic gmbh imaging "
    "inc incorporated kk limited llc ltd optical sa".split()
)
_PLACEHOLDERS = frozenset({"unknown", "none", "null", "n/a", "na", "-", "?", "undefined"})

#: Makers whose cameras are all phones (display forms of :data:`MAKER_ALIASES`).
PHONE_MAKERS = frozenset(
    {"BlackBerry", "Fairphone", "HONOR", "HTC", "HUAWEI", "Meizu", "Motorola", "Nokia",
     "OnePlus", "OPPO", "realme", "Sony Ericsson", "vivo", "Xiaomi", "ZTE",
     "Redmi", "POCO", "Nothing", "Essential"}
)
#: Makers that sell phones and other cameras: model prefixes (case-folded) of their phones.
PHONE_MODEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "Apple": ("iphone",),
    "Google": ("pixel", "nexus"),
    "SAMSUNG": ("sm-", "gt-i", "gt-n", "gt-s", "sch-", "sgh-", "sph-", "galaxy"),
    "SONY": ("xperia", "so-", "sov", "xq-"),
    "LG": ("lg-", "lm-", "nexus"),
    "ASUS": ("asus_", "zenfone"),
    "Microsoft": ("lumia",),
    "Lenovo": ("lenovo ", "moto"),
}
# A model that names its maker by a product line: "iPhone 12" is an Apple.
_MODEL_MAKERS = {"iphone": "Apple", "ipad": "Apple", "pixel": "Google", "galaxy": "SAMSUNG"}


def clean_field(value: Any, name: str = "field") -> tuple[str | None, str | None]:
    """Readable text of one Make/Model value, or ``None`` and the reason.

    Parameters
    ----------
    value : object
        ``str`` or ``bytes`` (decoded as strict UTF-8); anything else is the
        wrong type.
    name : str
        Field name for the reason (``"Make"``).

    Returns
    -------
    text : str or None
        NUL bytes and surrounding whitespace stripped, inner whitespace
        collapsed to one space.
    reason : str or None
        Why there is no text (``None`` when there is).

    Examples
    --------
    >>> clean_field(b"Canon\\x00\\x00", "Make")
    ('Canon', None)
    >>> clean_field(3, "Make")
    (None, 'Make has type int, expected text')
    """
    if value is None:
        return None, f"no {name}"
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None, f"{name} is not valid UTF-8"
    if not isinstance(value, str):
        return None, f"{name} has type {type(value).__name__}, expected text"
    text = " ".join(value.replace("\x00", " ").split())
    if not text:
        return None, f"{name} is empty"
    if "\ufffd" in text:
        # read_exif decodes with errors="replace": the mark of invalid UTF-8.
        return None, f"{name} is not valid UTF-8"
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return None, f"{name} {text[:20]!r} has control characters"
    if len(text) > MAX_FIELD_CHARS:
        return None, f"{name} is {len(text)} characters long (over {MAX_FIELD_CHARS})"
    if text.casefold() in _PLACEHOLDERS:
        return None, f"{name} is the placeholder {text!r}"
    return text, None


def _maker_key(text: str) -> str:
    words = re.sub(r"[^\w\s]", " ", text.casefold()).split()
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    return " ".join(words)


def canonical_make(make: str) -> str:
    """Display form of a maker: its alias, or the cleaned text when unknown.

    The whole key is looked up first (``"sony ericsson"``), then its first
    word (``"samsung techwin"`` -> ``"SAMSUNG"``).

    Examples
    --------
    >>> canonical_make("NIKON CORPORATION"), canonical_make("RICOH IMAGING COMPANY, LTD.")
    ('NIKON', 'RICOH')
    >>> canonical_make("Acme Cams")
    'Acme Cams'
    """
    key = _maker_key(make)
    if key in MAKER_ALIASES:
        return MAKER_ALIASES[key]
    first = key.split(" ", 1)[0] if key else ""
    return MAKER_ALIASES.get(first, make)


def _prefixes(make: str, raw_make: str | None) -> list[str]:
    """Spellings of the make a model may start with, longest first."""
    forms = {make.casefold(), _maker_key(make)}
    if raw_make:
        forms |= {raw_make.casefold(), _maker_key(raw_make)}
        forms.add(_maker_key(raw_make).split(" ", 1)[0])
    return sorted((f for f in forms if f), key=len, reverse=True)


def strip_make(model: str, make: str, raw_make: str | None = None) -> str:
    """``model`` without a leading repetition of ``make`` (a whole word, twice at most).

    Examples
    --------
    >>> strip_make("NIKON D70", "NIKON", "NIKON CORPORATION")
    'D70'
    >>> strip_make("Canon Canon EOS 5D", "Canon")
    'EOS 5D'
    >>> strip_make("LG-H850", "LG")
    'LG-H850'
    """
    for _ in range(2):
        folded = model.casefold()
        for prefix in _prefixes(make, raw_make):
            if folded.startswith(prefix + " ") and len(model) > len(prefix) + 1:
                model = model[len(prefix) + 1 :].lstrip()
                break
        else:
            break
    return model


def _infer_make(model: str) -> str | None:
    """A maker named by the model's first words (``"NIKON D70"``, ``"iPhone 12"``)."""
    words = _maker_key(model).split()
    for n in (2, 1):
        key = " ".join(words[:n])
        if len(words) >= n and key in MAKER_ALIASES:
            return MAKER_ALIASES[key]
    first = words[0] if words else ""
    return next((m for p, m in _MODEL_MAKERS.items() if first.startswith(p)), None)


def is_smartphone(make: str | None, model: str | None) -> bool:
    """Whether a (canonical make, model) is a phone camera.

    A phone is a camera by a maker in :data:`PHONE_MAKERS` (makers of phones
    only), or a model starting with one of its maker's phone prefixes in
    :data:`PHONE_MODEL_PREFIXES` (Apple iPhone, Google Pixel, Samsung SM-/
    Galaxy, Sony Xperia, LG LG-/LM-, ...). Everything else is not, including
    tablets (iPad) and makers not listed.

    Examples
    --------
    >>> is_smartphone("Apple", "iPhone 12"), is_smartphone("Apple", "iPad Air")
    (True, False)
    >>> is_smartphone("SAMSUNG", "SM-G991B"), is_smartphone("Canon", "EOS 5D")
    (True, False)
    """
    if make in PHONE_MAKERS:
        return True
    prefixes = PHONE_MODEL_PREFIXES.get(make or "", ())
    return bool(model) and model.casefold().startswith(prefixes)  # type: ignore[union-attr]


@dataclass(frozen=True)
class Camera:
    """A cleaned (make, model) pair and where it came from.

    ``make`` is the display form (:func:`canonical_make`) or ``None``;
    ``model`` has the repeated make removed, or is ``None``.
    """

    make: str | None
    model: str | None
    source: str = "exif"
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def smartphone(self) -> bool:
        return is_smartphone(self.make, self.model)

    def label(self, level: str = "model") -> str | None:
        """Class label at ``level`` (see :data:`LEVELS`), ``None`` when unknown."""
        if level == "model":
            if self.model is None:
                return None
            # A model that still starts with its make ("LG-H850") is not prefixed again.
            if not self.make or self.model.casefold().startswith(self.make.casefold()):
                return self.model
            return f"{self.make} {self.model}"
        if level == "make":
            return self.make
        if level == "smartphone":
            if self.make is None and self.model is None:
                return None
            return SMARTPHONE if self.smartphone else OTHER_CAMERA
        raise ValueError(f"level={level!r} is unknown, expected one of {LEVELS!r}")

    def missing(self, level: str = "model") -> str:
        """Why :meth:`label` is ``None`` at ``level``."""
        wanted = {"model": "Model", "make": "Make", "smartphone": "Make or Model"}[level]
        found = "; ".join(self.problems) or f"no {wanted}"
        return f"{found} ({self.source}); level {level!r} needs {wanted}"


def normalise_camera(make: Any, model: Any, source: str = "exif") -> Camera:
    """Clean a raw (Make, Model) pair into a :class:`Camera`.

    Examples
    --------
    >>> normalise_camera("NIKON CORPORATION", "NIKON D70").label()
    'NIKON D70'
    >>> normalise_camera("OLYMPUS IMAGING CORP.  ", "E-M5\\x00").label("make")
    'OLYMPUS'
    """
    make_text, make_problem = clean_field(make, "Make")
    model_text, model_problem = clean_field(model, "Model")
    problems = tuple(p for p in (make_problem, model_problem) if p)
    display = canonical_make(make_text) if make_text else None
    if display is None and model_text:
        display = _infer_make(model_text)
    if display is not None and model_text:
        if _maker_key(model_text) in {_maker_key(display), _maker_key(make_text or display)}:
            # Model repeats the make and nothing else (Make="Canon", Model="CANON").
            model_text = None
            problems = (*problems, "Model repeats the Make")
        else:
            model_text = strip_make(model_text, display, make_text)
    return Camera(make=display, model=model_text, source=source, problems=problems)


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _manifest_camera(metadata: Mapping[str, Any]) -> Camera | None:
    """The camera named by manifest columns, or ``None`` when they are absent or empty."""
    columns = {str(k).strip().casefold(): v for k, v in metadata.items() if k != "exif"}
    if _given(columns.get("camera")):
        text, problem = clean_field(columns["camera"], "camera column")
        if text is None:
            return Camera(None, None, "manifest", (problem or "camera column unusable",))
        make = _infer_make(text)
        if make is not None and _maker_key(text) == _maker_key(make):
            # Only a maker ("CANON"): a make label, no model (not "Canon CANON").
            return Camera(make=make, model=None, source="manifest",
                          problems=(f"camera column {text!r} names only the maker",))
        model = strip_make(text, make) if make else text
        return Camera(make=make, model=model, source="manifest")
    make_column, model_column = columns.get("make"), columns.get("model")
    if _given(make_column) or _given(model_column):
        return normalise_camera(
            make_column if _given(make_column) else None,
            model_column if _given(model_column) else None,
            "manifest",
        )
    return None


def read_camera(image: SourceImage) -> Camera:
    """The camera of one source image: manifest columns first, else its EXIF.

    Examples
    --------
    >>> read_camera(probe_set.images[0]).label()  # doctest: +SKIP
    'Canon EOS 5D'
    """
    metadata = image.metadata or {}
    from_manifest = _manifest_camera(metadata)
    if from_manifest is not None:
        return from_manifest
    exif = metadata.get("exif")
    if not isinstance(exif, Mapping) or not exif:
        return Camera(None, None, "exif", ("no EXIF",))
    if exif.get("Make") is None and exif.get("Model") is None:
        return Camera(None, None, "exif", ("no Make or Model in EXIF",))
    return normalise_camera(exif.get("Make"), exif.get("Model"), source="exif")


def camera_label(image: SourceImage, level: str = "model") -> str | None:
    """The camera class of one image at ``level``, or ``None`` when unknown.

    Examples
    --------
    >>> camera_label(image)                      # doctest: +SKIP
    'NIKON D70'
    >>> camera_label(image, level="smartphone")  # doctest: +SKIP
    'other camera'
    """
    return read_camera(image).label(level)


@dataclass
class CameraLabels:
    """Camera classes of a list of images.

    Attributes
    ----------
    level : str
    labels : dict
        Image id -> class key (the case-folded label).
    display : dict
        Class key -> display form (its most common spelling).
    sources : dict
        ``"exif"`` / ``"manifest"`` -> how many labels came from there.
    missing : list of (str, str)
        (path or id, reason) of each image without a label.
    """

    level: str
    labels: dict[str, str] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    missing: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Images per class, by display form, largest first."""
        counts = Counter(self.display[k] for k in self.labels.values())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def label_images(images: Iterable[SourceImage], level: str = "model") -> CameraLabels:
    """Camera classes of ``images`` at ``level``, and the images left without one.

    Examples
    --------
    >>> found = label_images(probe_set.images)  # doctest: +SKIP
    >>> found.counts(), len(found.missing)      # doctest: +SKIP
    ({'Canon EOS 5D': 40, 'NIKON D70': 31}, 3)
    """
    if level not in LEVELS:
        raise ValueError(f"level={level!r} is unknown, expected one of {LEVELS!r}")
    out = CameraLabels(level=level)
    spellings: dict[str, Counter[str]] = {}
    sources: Counter[str] = Counter()
    for image in images:
        camera = read_camera(image)
        label = camera.label(level)
        if label is None:
            out.missing.append((image.path or image.id, camera.missing(level)))
            continue
        key = label.casefold()
        out.labels[image.id] = key
        spellings.setdefault(key, Counter())[label] += 1
        sources[camera.source] += 1
    out.display = {
        key: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, c in spellings.items()
    }
    out.sources = dict(sorted(sources.items()))
    return out


def choose_level(images: Sequence[SourceImage], level: str, min_per_class: int
                 ) -> tuple[CameraLabels, str]:
    """Labels at ``level``, and a sentence saying which level and why.

    ``"auto"`` takes the model level when at least two camera models have
    ``min_per_class`` photos or more, else the make level: a folder of many
    cameras with a few photos each can still be measured by maker.

    Examples
    --------
    >>> found, why = choose_level(probe_set.images, "auto", 10)  # doctest: +SKIP
    >>> found.level, why                                         # doctest: +SKIP
    ('make', "camera classes at level 'make' (auto: 1 camera model has 10 or more photos, ...)")
    """
    if level not in LEVEL_CHOICES:
        raise ValueError(f"level={level!r} is unknown, expected one of {LEVEL_CHOICES!r}")
    if level != "auto":
        return label_images(images, level), f"camera classes at level {level!r}"
    by_model = label_images(images, "model")
    enough = sum(n >= min_per_class for n in Counter(by_model.labels.values()).values())
    if enough >= 2:
        return by_model, (f"camera classes at level 'model' (auto: {enough} camera models "
                          f"have {min_per_class} or more photos)")
    return label_images(images, "make"), (
        f"camera classes at level 'make' (auto: {enough} camera model(s) have "
        f"{min_per_class} or more photos, fewer than 2; --audit-camera-level=model insists)")
