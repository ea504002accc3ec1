"""auditkit: audit image encoders for what their embeddings know beyond semantics."""

__version__ = "0.1.0"
