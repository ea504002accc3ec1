"""Retrieval shift (Ramos et al.): does matching the query's processing move k-NN results?

Queries under one processing are labelled by k-NN over a database where the
query's class ("positives") carries one processing and every other class
another. The case judges the mean signed shift accuracy(pos-same) minus
accuracy(neg-same) over ordered pairs of JPEG and resizing classes.

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.retrieval_shift].
"""

import pytest


@pytest.mark.audit("retrieval_shift")
def test_retrieval_shift(audit):
    audit.check()
