"""The exceptions auditkit raises.

Every error auditkit raises on purpose derives from :class:`AuditkitError`::

    AuditkitError
    ├── SpecError                 an encoder spec that cannot be parsed or is unknown
    ├── WeightsUnavailableError   weights that cannot be found locally or fetched
    ├── UnsafeCheckpointError     a checkpoint that would run code when loaded
    ├── ProbeSetError             a probe set that cannot be used at all
    │   └── NotApplicable         a probe set without what one audit measures
    ├── BadImageError             one image that cannot be read (the run skips it)
    ├── ConfigError               an invalid ``[tool.auditkit]`` value or option
    └── CacheError                an embedding cache that cannot be used

Messages say what was wrong, show the value with ``!r`` and say what to do.
"""

from __future__ import annotations


class AuditkitError(Exception):
    """Base class of every error auditkit raises on purpose."""


class SpecError(AuditkitError, ValueError):
    """An encoder spec that cannot be parsed, or names nothing registered."""


class WeightsUnavailableError(AuditkitError):
    """Weights for an encoder spec are neither on disk nor reachable."""


class UnsafeCheckpointError(AuditkitError):
    """A checkpoint file that needs arbitrary code execution to load."""


class ProbeSetError(AuditkitError):
    """A probe set that is empty, unreadable as a whole or malformed."""


class NotApplicable(ProbeSetError):
    """The probe set lacks the input one audit measures (camera labels, query groups,
    a second class): the audit is not applicable, which says nothing about the model.

    The message gives the reason and the remedy; the case is recorded as
    ``not_applicable`` and skipped (failed under ``--audit-inconclusive=fail``).
    """


class BadImageError(AuditkitError):
    """One image that cannot be decoded; callers skip it and record why."""


class ConfigError(AuditkitError, ValueError):
    """An invalid configuration value (pytest option or ``[tool.auditkit]``)."""


class CacheError(AuditkitError):
    """An embedding cache directory that cannot be used."""


class EngineError(AuditkitError):
    """An extraction engine whose workers cannot compute what the keys promise."""
