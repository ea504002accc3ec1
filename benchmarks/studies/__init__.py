"""The studies of ``benchmarks/pipeline.py``, one module each, and its table.

``inputs`` builds the encoder and variants; ``forward`` is (a), the
encoder's own limit; ``extraction`` (b), auditkit's extraction against it;
``cold_warm`` (c, d), whole ``pytest audits/`` runs; ``probe_fit`` (e), the
probe against scikit-learn; ``memory`` (f), peak memory per set size;
``table`` the headline keys and the printed table.
"""

from pathlib import Path

#: The checkout the benchmark measures: audit runs start here.
ROOT = Path(__file__).resolve().parents[2]
#: The command-line entry point; the memory study runs it once per set size.
ENTRY_POINT = ROOT / "benchmarks" / "pipeline.py"
