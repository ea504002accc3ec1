"""Style and transformation leakage (Substance or Style, Rashtchian et al. 2023).

A linear probe predicts which of the catalogue's ~40 transformations
(geometric, colour, blur/filter, noise, quality, overlay, style) was applied,
which family an unseen member belongs to, and which style was applied. Each
source image gets a few transformations (``per_image``), the same pairs for
all three audits, so each pair is embedded once.

Options in ``[tool.auditkit.style]`` of pyproject.toml: ``per_image`` (6),
``families`` (all), ``repeats`` (3, generalisation partitions) and
``folders``: style-transfer outputs laid out ``ROOT/<style>/<content>.<ext>``,
relative to the project root, probed by ``style_recognition``.
Transformations registered with ``auditkit.transforms.catalogue.register_transform``
(e.g. in conftest.py) join the catalogue.

Cases: every --encoder x every threshold in [tool.auditkit.thresholds.style_*].
"""

import pytest


@pytest.mark.audit("style_fine_grained")
def test_style_fine_grained(audit):
    audit.check()


@pytest.mark.audit("style_generalisation")
def test_style_generalisation(audit):
    audit.check()


@pytest.mark.audit("style_recognition")
def test_style_recognition(audit):
    audit.check()
