"""Backends: where the embeddings the caches lacked are computed.

``auditkit.extract.Extractor`` is the cache front; a backend computes its
misses. :class:`LocalBackend` runs them in this process.
"""

from auditkit.backends.base import Backend, Batch, Failure, Preparer, Work, prepare
from auditkit.backends.local import LocalBackend

__all__ = ["Backend", "Batch", "Failure", "LocalBackend", "Preparer", "Work", "prepare"]
