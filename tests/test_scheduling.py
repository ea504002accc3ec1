"""pytest-xdist groups an audit's threshold cases by their node ids."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.scheduling import case_group
from auditkit.verdicts import THRESHOLD_KINDS, Threshold

SPECS = st.sampled_from(["pixels", "timm:vit-b-16", "open_clip:ViT-B-32/openai", "hf:org/m-1",
                         "python:planted:noise", "onnx:model-v2.onnx"])


@given(SPECS, st.sampled_from(sorted(THRESHOLD_KINDS)),
       st.floats(-10, 10, allow_nan=False) | st.sampled_from([1e-5, 2.5e12]))
def test_the_cases_of_one_encoder_share_a_group(spec, kind, value):
    case = Threshold(kind, value).case
    nodeid = f"audits/test_x.py::test_x[{spec}-{case}]"
    assert case_group(nodeid) == f"audits/test_x.py::test_x[{spec}]"


@pytest.mark.parametrize("nodeid", ["t.py::test_plain", "t.py::test_p[3-4]", "t.py::test_p[a]"])
def test_other_tests_are_their_own_group(nodeid):
    assert case_group(nodeid) == nodeid
