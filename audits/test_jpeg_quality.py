"""JPEG-quality leakage: can a linear probe tell quality x chroma subsampling?

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.jpeg_quality].
"""

import pytest


@pytest.mark.audit("jpeg_quality")
def test_jpeg_quality(audit):
    audit.check()
