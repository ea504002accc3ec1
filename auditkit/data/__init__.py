"""Probe sets: the source images every audit starts from.

:func:`load_probe_set` turns what a user names (nothing, ``"builtin"``, a
folder, a CSV manifest) into a :class:`ProbeSet`.
"""

from __future__ import annotations

from pathlib import Path

from auditkit.data.base import ProbeSet, Skipped, SourceImage, sha256_of_image, take_balanced
from auditkit.data.builtin import BUILTIN_CLASSES, BuiltinRecipe, builtin_probe_set
from auditkit.data.decode import IMAGE_EXTENSIONS, FileLoader, decode_image_bytes, read_exif
from auditkit.data.folder import folder_probe_set
from auditkit.data.manifest import manifest_probe_set
from auditkit.errors import ProbeSetError

__all__ = [
    "BUILTIN_CLASSES",
    "IMAGE_EXTENSIONS",
    "BuiltinRecipe",
    "FileLoader",
    "ProbeSet",
    "Skipped",
    "SourceImage",
    "builtin_probe_set",
    "decode_image_bytes",
    "folder_probe_set",
    "load_probe_set",
    "manifest_probe_set",
    "read_exif",
    "sha256_of_image",
    "take_balanced",
]


def load_probe_set(
    spec: str | Path | None, seed: int = 0, max_images: int | None = None
) -> ProbeSet:
    """Load the probe set a user names.

    Parameters
    ----------
    spec : str, Path or None
        ``None`` or ``"builtin"``: the built-in set. A folder: its images
        (class subfolders give labels). A ``.csv`` file: a manifest with a
        ``path`` column. ``"builtin"`` wins over a folder of that name; write
        ``./builtin`` for the folder.
    seed : int
        Seed of the built-in set, or of which files a truncated set keeps.
    max_images : int or None
        Keep at most this many images, as evenly across classes as possible.

    Returns
    -------
    ProbeSet

    Raises
    ------
    ProbeSetError
        ``spec`` names none of the above, or the set it names is unusable.

    Examples
    --------
    >>> load_probe_set(None, max_images=6).class_counts()
    {'digit': 1, 'face': 1, 'nonface': 1, 'photo': 1, 'shape': 1, 'texture': 1}
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "builtin"):
        return builtin_probe_set(seed=seed, max_images=max_images)
    path = Path(spec).expanduser()
    if path.is_dir():
        return folder_probe_set(path, seed=seed, max_images=max_images)
    if path.is_file() and path.suffix.lower() == ".csv":
        return manifest_probe_set(path, seed=seed, max_images=max_images)
    problem = "is a file but not a .csv manifest" if path.is_file() else "does not exist"
    raise ProbeSetError(
        f"cannot use {str(spec)!r} as a probe set: it {problem}; pass 'builtin', "
        "a folder of images or a .csv manifest with a 'path' column"
    )
