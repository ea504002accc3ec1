"""Where a run's baseline results live, reading them and writing them back.

``--audit-baseline PATH`` names either one ``results.json`` (the base model of
the audited encoders; reference encoders such as ``pixels`` are not compared
with it) or a report directory laid out like ``reports/out``, where each
encoder, references included, has its own ``<slug>/results.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.compare import DEFAULT_TOLERANCE
from auditkit.errors import ConfigError
from auditkit.layout import ReportLayout
from auditkit.results import AuditResult, load_document, write_json_atomic


@dataclass
class Baseline:
    """The baseline of one run.

    Examples
    --------
    >>> b = Baseline(Path("reports/base/clip/results.json"))  # doctest: +SKIP
    >>> b.results_for("clip@ft.safetensors", reference=False)  # doctest: +SKIP
    """

    path: Path
    tolerance: float = DEFAULT_TOLERANCE
    _loaded: dict[Path, list[AuditResult] | None] = field(default_factory=dict, repr=False)

    @property
    def is_file(self) -> bool:
        return self.path.suffix == ".json" or self.path.is_file()

    def path_for(self, spec: str, reference: bool) -> Path | None:
        """The baseline file of ``spec``, or None when this baseline does not cover it."""
        if self.is_file:
            return None if reference else self.path
        return ReportLayout(self.path).results(spec)

    def results_for(self, spec: str, reference: bool) -> list[AuditResult] | None:
        """The baseline's cases for ``spec``; None when there is no baseline file yet.

        Raises
        ------
        ConfigError
            The file exists but is not a valid ``results.json``.
        """
        path = self.path_for(spec, reference)
        if path is None:
            return None
        if path not in self._loaded:
            if not path.is_file():
                self._loaded[path] = None
            else:
                try:
                    doc = load_document(path)
                except ValueError as exc:
                    raise ConfigError(f"--audit-baseline: {exc}") from exc
                self._loaded[path] = [AuditResult.from_json(a) for a in doc["audits"]]
        return self._loaded[path]

    def write(self, spec: str, reference: bool, doc: dict[str, Any]) -> Path | None:
        """Make ``doc`` the baseline of ``spec`` (``--audit-update-baseline``)."""
        path = self.path_for(spec, reference)
        if path is not None:
            write_json_atomic(path, doc)
        return path
