"""The variants a benchmark measures."""

from __future__ import annotations

import pytest
from studies.inputs import select_variants


def test_select_variants_rejects_unknown_ids():
    assert len(select_variants(["all"])) == 6
    with pytest.raises(SystemExit, match="jpeg/q10-420"):
        select_variants(["jpeg/q10-420"])
