"""JPEG-quality leakage: can a linear probe tell quality x chroma subsampling?

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.jpeg_quality].
"""

import pytest

from auditkit.audits import jpeg_quality

pytestmark = pytest.mark.audit(jpeg_quality.AUDIT)


def test_jpeg_quality(audit):
    audit.check(lambda: jpeg_quality.measure(audit.extractor, audit.probe_set, seed=audit.seed))
