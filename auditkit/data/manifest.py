"""Probe sets from a CSV manifest listing the user's own images.

Rows name files (relative to the manifest's folder or absolute) with an
optional label and group; the files are read, hashed and decoded by
:class:`~auditkit.data.collect.Builder`, which records the unusable ones in
:attr:`ProbeSet.skipped` and leaves them out.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from auditkit.data.base import ProbeSet
from auditkit.data.collect import FLAT_LABEL, Builder, Candidate, log_summary, nothing_usable
from auditkit.data.decode import short, shown
from auditkit.errors import ProbeSetError

__all__ = ["manifest_probe_set"]

_RESERVED_COLUMNS = ("path", "label", "group")


def manifest_probe_set(csv_path: Path, seed: int = 0, max_images: int | None = None) -> ProbeSet:
    """Build a probe set from a CSV manifest.

    Columns: ``path`` (required; relative to the CSV's folder or absolute),
    ``label`` (optional, default ``"all"``), ``group`` (optional, default the
    path); every other column is copied, as text, into each image's
    metadata. Rows naming a missing or unreadable file, with an empty path or
    label, with more fields than the header (an unquoted comma), or
    repeating an earlier row's path are skipped with the reason; short rows
    leave their last columns empty; blank lines are ignored.

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
        The CSV cannot be parsed, has no header, no ``path`` column or a
        repeated column name, or lists no usable image.

    Examples
    --------
    >>> probe = manifest_probe_set(Path("probe.csv"))  # doctest: +SKIP
    >>> probe.images[0].metadata["camera"]  # doctest: +SKIP
    'Canon EOS 5D'
    """
    csv_path = Path(csv_path).expanduser()
    header, rows = _read_csv(csv_path)
    base = Path(os.path.abspath(csv_path)).parent
    extra_columns = [c for c in header if c not in _RESERVED_COLUMNS]
    builder = Builder()
    candidates: list[Candidate] = []
    first_row: dict[str, int] = {}
    for line, cells in rows:
        if len(cells) > len(header):
            builder.skip(
                f"{csv_path.name}:{line}",
                f"malformed: line {line} has {len(cells)} fields, the header {len(header)}; "
                "quote values that contain commas",
            )
            continue
        # Short rows leave the last columns empty, as spreadsheets write them.
        padded = [c.strip() for c in cells] + [""] * (len(header) - len(cells))
        row = dict(zip(header, padded, strict=True))
        written = row["path"]
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
        label = row.get("label", FLAT_LABEL)
        if not label:
            builder.skip(image_id, f"unlabelled: line {line} has an empty label; fill it in")
            continue
        if not file.is_file():
            what = "a folder, not a file" if file.is_dir() else "no such file"
            builder.skip(image_id, f"missing: {shown(str(file))!r} is {what}")
            continue
        group = row.get("group", "") or image_id
        extra = {
            (f"manifest_{c}" if c in ("exif", "format", "mode", "size") else c): row[c]
            for c in extra_columns
        }
        candidates.append(Candidate(image_id, file, label, group, extra))
    images = builder.build(candidates, max_images, seed)
    if not images:
        raise nothing_usable(f"manifest {str(csv_path)!r}", f"{len(rows)} row(s)", builder.skipped)
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


def _read_csv(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, cells)`` of each non-blank row."""
    where = repr(str(csv_path))
    try:
        # utf-8-sig: spreadsheets put a byte-order mark before the header.
        with open(csv_path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = [c.strip() for c in next(reader, [])]
            rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except FileNotFoundError as exc:
        raise ProbeSetError(f"manifest {where} does not exist; check the path") from exc
    except (csv.Error, UnicodeDecodeError, OSError) as exc:
        raise ProbeSetError(
            f"cannot parse manifest {where} as CSV ({short(str(exc))}); "
            "save it as UTF-8 CSV with a header row"
        ) from exc
    if not any(header):
        raise ProbeSetError(
            f"cannot parse manifest {where} as CSV (no header row); "
            "save it as UTF-8 CSV with a header row"
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise ProbeSetError(
            f"manifest {where} names the column(s) {repeated!r} more than once; "
            "give each column one name"
        )
    if "path" not in header:
        raise ProbeSetError(
            f"manifest {where} has no 'path' column (columns found: {header!r}); "
            "add a header row with a 'path' column"
        )
    return header, rows


def _manifest_id(file: Path, base: Path) -> str:
    # Relative to the manifest's folder, so that ids (and results keyed by
    # them) survive moving the manifest together with its images.
    try:
        return shown(Path(os.path.relpath(file, base)).as_posix())
    except ValueError:  # another drive on Windows
        return shown(file.as_posix())
