"""Camera-model leakage (Ramos et al.): can a linear probe tell which camera took a photo?

Classes are the cameras of --audit-data's photos (EXIF Make/Model or a manifest
``camera`` column), balanced by subsampling; with the built-in set, simulated
camera pipelines take every image instead. ``camera_model_masked`` is the
semantic control: the same probe with the centre 95 % of the model input
blanked, so the card shows how much of the leakage survives without the subject.

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.camera_model*].
"""

import pytest


@pytest.mark.audit("camera_model")
def test_camera_model(audit):
    audit.check()


@pytest.mark.audit("camera_model_masked")
def test_camera_model_masked(audit):
    audit.check()
