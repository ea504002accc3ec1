"""(f) The memory study: its reading of peak resident memory, and the entry it runs."""

from __future__ import annotations

from pathlib import Path

import pipeline
from studies import ENTRY_POINT
from studies.memory import peak_rss_mb


def test_peak_rss_is_positive():
    assert peak_rss_mb() > 0


def test_each_size_runs_the_command_line_entry_point():
    # peak_memory starts `python ENTRY_POINT --memory-child N` for each size.
    assert ENTRY_POINT == Path(pipeline.__file__).resolve()
