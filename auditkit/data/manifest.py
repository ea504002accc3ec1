"""Probe sets from a CSV manifest listing the user's own images.

Rows name files (relative to the manifest's folder or absolute) with an
optional label and group; the files are read, hashed and decoded by
:class:`~auditkit.data.collect.Builder`, which records the unusable ones in
:attr:`ProbeSet.skipped` and leaves them out.
"""

from __future__ import annotations

import os
from pathlib import Path

from auditkit.data.base import ProbeSet
from auditkit.data.collect import FLAT_LABEL, Builder, Candidate, log_summary, nothing_usable
from auditkit.data.decode import short
from auditkit.errors import ProbeSetError

__all__ = ["manifest_probe_set"]

_RESERVED_COLUMNS = ("path", "label", "group")


def manifest_probe_set(csv_path: Path, seed: int = 0, max_images: int | None = None) -> ProbeSet:
    """Build a probe set from a CSV manifest.

    Columns: ``path`` (required; relative to the CSV's folder or absolute),
    ``label`` (optional, default ``"all"``), ``group`` (optional, default the
    path); every other column is copied, as text, into each image's
    metadata. Rows naming a missing or unreadable file, with an empty path or
    label, or repeating an earlier row's path are skipped with the reason.

    Parameters
    ----------
    csv_path : Path
        The manifest.
    seed : int
        Which rows a truncated set keeps (with ``max_images``).
    max_images : int or None
        Keep at most this many images, as evenly across labels as possible.

    Returns
    -------
    ProbeSet

    Raises
    ------
    ProbeSetError
        The CSV cannot be parsed, has no ``path`` column or lists no usable
        image.

    Examples
    --------
    >>> probe = manifest_probe_set(Path("probe.csv"))  # doctest: +SKIP
    >>> probe.images[0].metadata["camera"]  # doctest: +SKIP
    'Canon EOS 5D'
    """
    import pandas as pd  # pandas is slow to import; only manifests need it

    csv_path = Path(csv_path).expanduser()
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise ProbeSetError(f"manifest {str(csv_path)!r} does not exist; check the path") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise ProbeSetError(
            f"cannot parse manifest {str(csv_path)!r} as CSV ({short(str(exc))}); "
            "save it as UTF-8 CSV with a header row"
        ) from exc
    table.columns = [str(c).strip() for c in table.columns]
    if "path" not in table.columns:
        raise ProbeSetError(
            f"manifest {str(csv_path)!r} has no 'path' column (columns found: "
            f"{list(table.columns)!r}); add a header row with a 'path' column"
        )
    base = Path(os.path.abspath(csv_path)).parent
    extra_columns = [c for c in table.columns if c not in _RESERVED_COLUMNS]
    builder = Builder()
    candidates: list[Candidate] = []
    first_row: dict[str, int] = {}
    for offset, row in enumerate(table.to_dict("records")):
        line = offset + 2  # the header is line 1
        written = str(row["path"]).strip()
        if not written:
            builder.skip(f"{csv_path.name}:{line}", f"missing: line {line} has an empty path")
            continue
        file = Path(os.path.normpath(base / Path(written).expanduser()))
        image_id = _manifest_id(file, base)
        if image_id in first_row:
            builder.skip(
                image_id,
                f"duplicate: line {line} repeats the path of line {first_row[image_id]}; "
                "the first is kept",
            )
            continue
        first_row[image_id] = line
        label = str(row.get("label", FLAT_LABEL)).strip()
        if not label:
            builder.skip(image_id, f"unlabelled: line {line} has an empty label; fill it in")
            continue
        if not file.is_file():
            what = "a folder, not a file" if file.is_dir() else "no such file"
            builder.skip(image_id, f"missing: {str(file)!r} is {what}")
            continue
        group = str(row.get("group", "")).strip() or image_id
        extra = {
            (f"manifest_{c}" if c in ("exif", "format", "mode", "size") else c): row[c]
            for c in extra_columns
        }
        candidates.append(Candidate(image_id, file, label, group, extra))
    images = builder.build(candidates, max_images, seed)
    if not images:
        raise nothing_usable(f"manifest {str(csv_path)!r}", f"{len(table)} row(s)", builder.skipped)
    log_summary(str(csv_path), images, builder.skipped)
    return ProbeSet(
        name=csv_path.stem,
        images=images,
        skipped=builder.skipped,
        description=(
            f"{len(images)} images listed in manifest {str(csv_path)!r} in "
            f"{len({im.label for im in images})} class(es)."
        ),
    )


def _manifest_id(file: Path, base: Path) -> str:
    # Relative to the manifest's folder, so that ids (and results keyed by
    # them) survive moving the manifest together with its images.
    try:
        return Path(os.path.relpath(file, base)).as_posix()
    except ValueError:  # another drive on Windows
        return file.as_posix()
