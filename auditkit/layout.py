"""Where a run's reports live: the one place that knows ``<dir>/<slug>/results.json``.

::

    <report-dir>/index.html                 the run's index
    <report-dir>/<slug>/results.json        one encoder's cases
    <report-dir>/<slug>/card.html           its audit card

A baseline directory has the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS_FILE = "results.json"
CARD_FILE = "card.html"
INDEX_FILE = "index.html"


def encoder_slug(spec: str) -> str:
    """A file-system-safe directory name for an encoder spec.

    Examples
    --------
    >>> encoder_slug("open_clip:ViT-B-32/openai")
    'open_clip_ViT-B-32_openai'
    """
    keep = [c if c.isalnum() or c in "-_." else "_" for c in spec]
    slug = "".join(keep).strip("._") or "encoder"
    return slug[:120]


@dataclass(frozen=True)
class ReportLayout:
    """The files of one report (or baseline) directory.

    Examples
    --------
    >>> ReportLayout(Path("reports/out")).results("pixels").as_posix()
    'reports/out/pixels/results.json'
    """

    root: Path

    def folder(self, spec: str) -> Path:
        return self.root / encoder_slug(spec)

    def results(self, spec: str) -> Path:
        return self.folder(spec) / RESULTS_FILE

    def card(self, spec: str) -> Path:
        return self.folder(spec) / CARD_FILE

    @property
    def index(self) -> Path:
        return self.root / INDEX_FILE

    def all_results(self) -> list[Path]:
        """Every ``<slug>/results.json`` under the root, sorted."""
        return sorted(self.root.glob(f"*/{RESULTS_FILE}"))
