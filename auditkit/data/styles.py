"""Style sets from image folders: real style-transfer outputs for the style-recognition audit.

Layout: ``ROOT/<style name>/<content id>.<ext>`` (deeper folders below the
style are allowed; the content id is then the path below the style folder
without its extension). Each image is labelled with its style and grouped
by its content id, so the renderings of one content never straddle a
train/test split: the probe must recognise the style, not remember the
picture. Several roots merge; a style name found under two roots is one
style, and equal content ids are one group (the cautious reading when
contents are shared across roots).

Files are read, hashed and decoded by the folder loader
(:func:`auditkit.data.folder.folder_probe_set`); unreadable ones are left out
and recorded in :attr:`ProbeSet.skipped` under their full path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from auditkit import seeds
from auditkit.data.base import ProbeSet, Skipped, SourceImage
from auditkit.data.collect import Builder
from auditkit.data.folder import _discover, folder_probe_set
from auditkit.errors import ConfigError, ProbeSetError

__all__ = [
    "MIN_CONTENTS",
    "folders_digest",
    "folders_from_config",
    "resolve_folder",
    "style_folder_set",
]

#: A style needs this many distinct contents for a grouped train/test split.
MIN_CONTENTS = 2


def style_folder_set(
    folders: Sequence[str | Path],
    root: str | Path | None = None,
    max_images: int | None = None,
    seed: int = 0,
) -> ProbeSet:
    """Labelled images of style-transfer folders: label = style, group = content id.

    Parameters
    ----------
    folders : sequence of str or Path
        Roots laid out as ``ROOT/<style>/<content id>.<ext>``.
    root : str, Path or None
        Relative folders are taken relative to it (the project's rootdir).
    max_images : int or None
        Keep at most about this many images: whole contents (every style
        rendering of each), chosen by ``seed``, until the next would pass it.
    seed : int
        Which contents a truncated set keeps.

    Returns
    -------
    ProbeSet
        Image ids ``<folder as given>/<style>/<file>``; ``skipped`` holds
        unreadable, duplicate and misplaced files (path = full path) and the
        files of styles with fewer than :data:`MIN_CONTENTS` contents.

    Raises
    ------
    ProbeSetError
        A folder is missing or has no style subfolder with images, or fewer
        than two styles are usable.

    Examples
    --------
    >>> styles = style_folder_set(["styles/nst"], root=".")  # doctest: +SKIP
    >>> styles.class_counts()                                 # doctest: +SKIP
    {'candy': 50, 'mosaic': 50, 'udnie': 50}
    """
    if not folders:
        raise ProbeSetError("no style folder given: expected at least one ROOT/<style>/<content>")
    images: list[SourceImage] = []
    skipped: list[Skipped] = []
    for folder in folders:
        found, lost = _one_root(Path(folder), Path(root) if root is not None else None)
        images += found
        skipped += lost
    if max_images is not None:
        images = _keep_contents(images, max_images, seed)
    images, thin = _drop_thin_styles(images)
    skipped += thin
    styles = sorted({im.label for im in images})
    if len(styles) < 2:
        raise ProbeSetError(
            f"style folders {[str(f) for f in folders]!r} give {len(styles)} usable style(s) "
            f"({', '.join(styles) or 'none'}): expected at least two, each a subfolder "
            f"with images of at least {MIN_CONTENTS} contents"
        )
    contents = len({im.group for im in images})
    return ProbeSet(
        name="style-folders",
        images=images,
        skipped=sorted(skipped, key=lambda s: s.path),
        description=(
            f"{len(images)} style-transfer images in {len(styles)} styles "
            f"({', '.join(styles)}) of {contents} contents from "
            f"{', '.join(str(f) for f in folders)}."
        ),
    )


def folders_digest(folders: Sequence[str | Path], root: str | Path | None = None) -> str:
    """SHA-256 over the image files of style folders: each one's path and bytes.

    The files are those :func:`style_folder_set` reads, found the same way,
    and hashed without decoding, so that a measurement key can cover them
    cheaply: a replaced, added or removed file changes the digest. A folder
    that cannot be listed hashes as missing; loading it is the error.

    Examples
    --------
    >>> folders_digest(["no/such/folder"]) == folders_digest(["no/such/folder"])
    True
    """
    h = hashlib.sha256()
    for folder in folders:
        where = resolve_folder(folder, Path(root) if root is not None else None)
        h.update(f"{folder}\0".encode())
        if not where.is_dir():
            h.update(b"missing\n")
            continue
        for path in _discover(where, Builder())[0]:
            h.update(path.relative_to(where).as_posix().encode() + b"\0")
            try:
                h.update(hashlib.sha256(path.read_bytes()).digest())
            except OSError as exc:  # read again, and skipped with the reason, when loading
                h.update(f"unreadable: {type(exc).__name__}\n".encode())
    return h.hexdigest()


def resolve_folder(folder: str | Path, root: Path | None) -> Path:
    """Where style folder ``folder`` of the config is: relative paths from the project root."""
    where = Path(folder).expanduser()
    if not where.is_absolute() and root is not None:
        where = root / where
    return Path(os.path.abspath(where))


def _one_root(folder: Path, root: Path | None) -> tuple[list[SourceImage], list[Skipped]]:
    where = resolve_folder(folder, root)
    loaded = folder_probe_set(where)
    skipped = [dataclasses.replace(s, path=str(where / s.path)) for s in loaded.skipped]
    if any("/" not in im.id for im in loaded.images):
        # folder_probe_set read a flat folder: no subfolder, so no style names.
        raise ProbeSetError(
            f"style folder {str(where)!r} has no style subfolders: expected "
            "ROOT/<style name>/<content id>.<ext>"
        )
    images = []
    for im in loaded.images:
        rel = PurePosixPath(im.id)
        content = rel.relative_to(rel.parts[0]).with_suffix("").as_posix()
        images.append(dataclasses.replace(
            im,
            id=f"{folder.as_posix()}/{im.id}",
            group=f"content/{content}",
            metadata={**im.metadata, "style": im.label, "content": content},
        ))
    return images, skipped


def _keep_contents(images: list[SourceImage], max_images: int, seed: int) -> list[SourceImage]:
    if max_images < 1:
        raise ProbeSetError(
            f"max_images={max_images!r} leaves no image; pass a positive number or None"
        )
    per_content: dict[str, int] = {}
    for im in images:
        per_content[im.group] = per_content.get(im.group, 0) + 1
    contents = sorted(per_content)
    kept: set[str] = set()
    total = 0
    for i in seeds.rng(seed).permutation(len(contents)):
        if total + per_content[contents[i]] > max_images:
            break
        kept.add(contents[i])
        total += per_content[contents[i]]
    return [im for im in images if im.group in kept]


def _drop_thin_styles(images: list[SourceImage]) -> tuple[list[SourceImage], list[Skipped]]:
    contents: dict[str, set[str]] = {}
    for im in images:
        contents.setdefault(im.label, set()).add(im.group)
    thin = {style for style, groups in contents.items() if len(groups) < MIN_CONTENTS}
    skipped = [
        Skipped(
            path=im.path or im.id,
            reason=(
                f"too few contents: style {im.label!r} has {len(contents[im.label])}, "
                f"a grouped split needs at least {MIN_CONTENTS}"
            ),
        )
        for im in images if im.label in thin
    ]
    return [im for im in images if im.label not in thin], skipped


def folders_from_config(table: Mapping[str, Any]) -> list[str]:
    """The ``folders`` of ``[tool.auditkit.style]``, validated (empty when absent).

    Examples
    --------
    >>> folders_from_config({"folders": ["styles/nst"]})
    ['styles/nst']
    >>> folders_from_config({})
    []
    """
    folders = table.get("folders", [])
    if isinstance(folders, str):
        folders = [folders]
    if not isinstance(folders, list) or not all(isinstance(f, str) and f for f in folders):
        raise ConfigError(
            f"[tool.auditkit.style] folders = {folders!r}: expected a list of folder paths "
            "(relative to the project root), e.g. folders = [\"styles/nst\"]"
        )
    return list(folders)
