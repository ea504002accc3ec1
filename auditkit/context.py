"""What an audit's ``measure(ctx)`` gets: one object with the run's inputs.

The embedder and the probe set are built on first use, not when the context
is made: a warm run whose measurement is read back from disk never builds
an extractor, and a run whose probe set cannot be loaded reports that as the
case's error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditkit.data.base import ProbeSet
    from auditkit.extract import Embedder
    from auditkit.verdicts import Measurement


@dataclass
class AuditContext:
    """The inputs of one audit's measurement for one encoder.

    Parameters
    ----------
    audit : str
        The audit being measured.
    seed : int
        The split seed: audits derive every split, fold, bootstrap and random
        control from it (see :mod:`auditkit.seeds`).
    options : mapping
        The audit's ``[tool.auditkit.TABLE]`` (its record's ``config_table``),
        or an empty mapping.
    root : Path
        The project root, against which relative paths in options resolve.
    device : str
        The torch device of the run.
    max_images : int or None
        The run's ``--audit-max-images``, for audits that load images of their own.
    data_seed : int or None
        The run seed, for an audit that chooses what to embed (the style
        audits' pairs, a style-folder subset); None: the same as ``seed``.
    measured_of : callable or None
        Another audit's measurements of the same encoder, as the run keeps
        them (measured once, stored); None: measured here, through the
        registry (:meth:`measurement_of`).

    Examples
    --------
    >>> ctx = AuditContext("jpeg_quality", seed=0, embedder_of=lambda: extractor,
    ...                    probe_set_of=lambda: probe_set)              # doctest: +SKIP
    >>> get_audit("jpeg_quality").measure(ctx)["leakage"].value          # doctest: +SKIP
    """

    audit: str
    seed: int
    embedder_of: Callable[[], Embedder]
    probe_set_of: Callable[[], ProbeSet]
    options: Mapping[str, Any] = field(default_factory=dict)
    root: Path = Path(".")
    device: str = "cpu"
    max_images: int | None = None
    data_seed: int | None = None
    measured_of: Callable[[str], dict[str, Measurement]] | None = None

    def __post_init__(self) -> None:
        if self.data_seed is None:
            self.data_seed = self.seed

    @classmethod
    def of(cls, audit: str, embedder: Embedder, probe_set: ProbeSet, *, seed: int = 0,
           **kwargs: Any) -> AuditContext:
        """A context over an embedder and a probe set already at hand (scripts, tests).

        Examples
        --------
        >>> ctx = AuditContext.of("jpeg_quality", extractor, probe_set, seed=3)  # doctest: +SKIP
        """
        return cls(audit, seed, embedder_of=lambda: embedder, probe_set_of=lambda: probe_set,
                   **kwargs)

    @property
    def embedder(self) -> Embedder:
        """The encoder's cached embedder (built on first use)."""
        return self.embedder_of()

    @property
    def probe_set(self) -> ProbeSet:
        """The run's probe set (loaded on first use)."""
        return self.probe_set_of()

    def measurement_of(self, audit: str) -> dict[str, Measurement]:
        """Audit ``audit``'s measurements of this encoder: the run's own where it keeps
        them, so one audit that builds on another never measures it twice."""
        if self.measured_of is not None:
            return self.measured_of(audit)
        from auditkit.registry import get_audit

        return get_audit(audit).measure(replace(self, audit=audit))
