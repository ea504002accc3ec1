"""Semantic utility: how well the embedding serves the probe set's own semantic labels.

Report-only, so that the leakage figures can be weighed: the grouped cosine
k-NN accuracy (judged) and the grouped linear probe's (beside it) of the
images' classes, unprocessed, each with its bootstrap interval and chance.
The stock ``min_accuracy = 0`` cannot fail; raise it to require utility.

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.semantic_utility].
"""

import pytest


@pytest.mark.audit("semantic_utility")
def test_semantic_utility(audit):
    audit.check()
