"""Processing traces (Ramos et al.): sharpening, resizing, interpolation, and the masked control.

Each test probes which class of one processing step was applied; every class
ends in the same JPEG 95 4:4:4 encoding. ``processing_masked_jpeg`` is the
semantic control: the JPEG audit again with the centre 95 % of the model
input blanked, so the card shows how much of the leakage survives without
the subject.

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.processing_*].
"""

import pytest


@pytest.mark.audit("processing_sharpening")
def test_sharpening(audit):
    audit.check()


@pytest.mark.audit("processing_resizing")
def test_resizing(audit):
    audit.check()


@pytest.mark.audit("processing_interpolation")
def test_interpolation(audit):
    audit.check()


@pytest.mark.audit("processing_masked_jpeg")
def test_masked_jpeg(audit):
    audit.check()
