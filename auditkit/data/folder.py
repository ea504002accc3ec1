"""Probe sets from a folder tree of the user's own images.

Class subfolders give the labels; the files found are read, hashed and
decoded by :class:`~auditkit.data.collect.Builder`, which records the
unreadable ones in :attr:`ProbeSet.skipped` and leaves them out.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from auditkit.data.base import ProbeSet
from auditkit.data.collect import FLAT_LABEL, Builder, Candidate, log_summary, nothing_usable
from auditkit.data.decode import IMAGE_EXTENSIONS, short, shown
from auditkit.errors import ProbeSetError

__all__ = ["folder_probe_set"]

logger = logging.getLogger("auditkit")


def folder_probe_set(path: Path, seed: int = 0, max_images: int | None = None) -> ProbeSet:
    """Build a probe set from a folder of images.

    With class subfolders (``root/<label>/.../image.jpg``) the label is the
    top-level subfolder's name and files lying directly in ``root`` are
    skipped; with no subfolder holding images the layout is flat and every
    image gets the label ``"all"``. Files are found recursively (extensions
    jpg, jpeg, png, bmp, tif, tiff, webp in any case), following symbolic
    links but never entering a folder twice, so link loops end. Hidden files
    and folders (name starting with ``.``) are ignored. The id and group of
    an image are its path relative to ``root``, in POSIX form.

    Parameters
    ----------
    path : Path
        The folder.
    seed : int
        Which files a truncated set keeps (with ``max_images``); the order is
        always sorted by path.
    max_images : int or None
        Keep at most this many images, as evenly across classes as possible.
        Only the files needed are decoded.

    Returns
    -------
    ProbeSet
        Unreadable and duplicate files appear in ``skipped`` with the reason.

    Raises
    ------
    ProbeSetError
        The folder does not exist or holds no usable image.

    Examples
    --------
    >>> probe = folder_probe_set(Path("photos"))  # doctest: +SKIP
    >>> probe.class_counts(), probe.skipped_counts()  # doctest: +SKIP
    ({'cats': 120, 'dogs': 118}, {'unreadable': 2})
    """
    # Absolute (links kept) so that loaders work from any working directory.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.is_dir():
        raise ProbeSetError(
            f"probe-set folder {shown(str(root))!r} does not exist or is not a folder; "
            "pass a folder of images, a .csv manifest or 'builtin'"
        )
    builder = Builder()
    files, others = _discover(root, builder)
    # Ids, groups and labels are shown in results and cards: printable text.
    rel_paths = [shown(f.relative_to(root).as_posix()) for f in files]
    classed = any("/" in rel for rel in rel_paths)
    candidates = []
    for file, rel in zip(files, rel_paths, strict=True):
        if classed and "/" not in rel:
            builder.skip(
                rel,
                "unlabelled: file at the top of a folder with class subfolders; "
                "move it into a class subfolder",
            )
            continue
        label = rel.split("/", 1)[0] if classed else FLAT_LABEL
        candidates.append(Candidate(id=rel, path=file, label=label, group=rel))
    images = builder.build(candidates, max_images, seed)
    if not images:
        found = f"{len(files)} file(s) with an image extension and {others} other file(s)"
        raise nothing_usable(repr(shown(str(root))), found, builder.skipped)
    log_summary(shown(str(root)), images, builder.skipped)
    n_classes = len({im.label for im in images})
    layout = "labels from subfolder names" if classed else f"one label {FLAT_LABEL!r}"
    return ProbeSet(
        name=shown(root.resolve().name or str(root)),
        images=images,
        skipped=builder.skipped,
        description=(
            f"{len(images)} images from folder {shown(str(root))!r} in {n_classes} class(es) "
            f"({layout})."
        ),
    )


def _discover(root: Path, builder: Builder) -> tuple[list[Path], int]:
    """Image files under ``root`` sorted by relative path, and a count of the rest."""
    files: list[Path] = []
    others = 0
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            stat = folder.stat()
            key = (stat.st_dev, stat.st_ino)
            if key in visited:
                logger.debug("not entering %s again (symbolic link loop)", folder)
                continue
            visited.add(key)
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            rel = folder.relative_to(root).as_posix()
            builder.skip(rel, f"unreadable: cannot list folder: {short(str(exc.strerror))}")
            continue
        for entry in listing:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows links; loops are caught by ``visited``
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(Path(entry.path))
            elif Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                # Broken links are kept: reading them records why they failed.
                files.append(Path(entry.path))
            else:
                others += 1
    files.sort(key=lambda f: f.relative_to(root).as_posix())
    return files, others
