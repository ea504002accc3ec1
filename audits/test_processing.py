"""Processing traces (Ramos et al.): sharpening, resizing, interpolation, and the masked control.

Each test probes which class of one processing step was applied; every class
ends in the same JPEG 95 4:4:4 encoding. ``processing_masked_jpeg`` is the
semantic control: the JPEG audit again with the centre 95 % of the model
input blanked, so the card shows how much of the leakage survives without
the subject.

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.processing_*].
"""

import pytest

from auditkit.audits import processing


def _check(audit):
    audit.check(lambda: processing.measure(audit.name, audit.extractor, audit.probe_set,
                                           seed=audit.seed))


@pytest.mark.audit("processing_sharpening")
def test_sharpening(audit):
    _check(audit)


@pytest.mark.audit("processing_resizing")
def test_resizing(audit):
    _check(audit)


@pytest.mark.audit("processing_interpolation")
def test_interpolation(audit):
    _check(audit)


@pytest.mark.audit("processing_masked_jpeg")
def test_masked_jpeg(audit):
    _check(audit)
