"""Retrieval shift (Ramos et al.): does matching the query's processing move k-NN results?

Queries under one processing are labelled by k-NN over a database where the
query's class ("positives") carries one processing and every other class
another. Each processing family (JPEG, sharpening, resizing, interpolation)
is its own experiment, as in the reference; the case judges the largest
family's mean signed shift accuracy(pos-same) minus accuracy(neg-same) over
its ordered pairs.

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.retrieval_shift].
"""

import pytest


@pytest.mark.audit("retrieval_shift")
def test_retrieval_shift(audit):
    audit.check()
