"""The encoder and the variants a benchmark measures, built as an audit run builds them."""

from __future__ import annotations

from collections.abc import Sequence

from auditkit.encoders import LoadOptions, build_encoder
from auditkit.encoders.base import Encoder
from auditkit.encoders.torch_encoder import set_amp
from auditkit.transforms.base import Variant
from auditkit.transforms.quality import jpeg_grid


def select_variants(ids: Sequence[str]) -> list[Variant]:
    """Variants of the JPEG grid by id (``all``: the six of the JPEG audit).

    Examples
    --------
    >>> [v.id for v in select_variants(["jpeg/q75-420"])]
    ['jpeg/q75-420']
    """
    grid = {v.id: v for v in jpeg_grid()}
    if list(ids) == ["all"]:
        return list(grid.values())
    unknown = [i for i in ids if i not in grid]
    if unknown:
        raise SystemExit(
            f"--variants: unknown id(s) {unknown!r}, expected 'all' or some of {sorted(grid)}"
        )
    return [grid[i] for i in ids]


def build(spec: str, device: str, seed: int = 0, amp: str = "none") -> Encoder:
    """The encoder as an audit run builds it, on ``device``."""
    encoder = build_encoder(spec, LoadOptions(seed=seed)).to(device)
    if not set_amp(encoder, amp):
        raise SystemExit(f"--amp {amp}: encoder {spec!r} is not a torch encoder")
    return encoder
