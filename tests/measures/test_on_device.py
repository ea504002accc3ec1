"""On an accelerator the audits hand the probes and the k-NN device tensors, and measure the same.

The CPU keeps host arrays (the path the calibration tables were made on);
:data:`auditkit.device.HOST_DEVICES` emptied sends the CPU down the tensor
path, so that it is tested on every machine, and the ``gpu`` case runs it on CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auditkit import device, knn
from auditkit.context import AuditContext
from auditkit.data import builtin_probe_set
from auditkit.device import computing_on
from auditkit.encoders.planted import TracePlantedEncoder
from auditkit.extract import Extractor
from auditkit.probes import LinearProbe
from auditkit.registry import get_audit

#: The audits whose measures feed the probes or the k-NN from an embedding table.
AUDITS = ("jpeg_quality", "style_generalisation", "camera_model", "semantic_utility",
          "retrieval_shift")


@pytest.fixture(scope="module")
def extractor():
    # D = 773: a 16 x 16 thumbnail plus five planted processing traces.
    return Extractor(TracePlantedEncoder(strength=0.2, size=16))


@pytest.fixture(scope="module")
def probe_set():
    return builtin_probe_set(seed=0, max_images=96)


def _measure(audit, extractor, probe_set, on, monkeypatch, tensors):
    seen = []
    fit, top_k = LinearProbe.fit, knn.top_k

    def where(X):
        seen.append(X.device.type if isinstance(X, torch.Tensor) else "host")

    def spy_fit(self, X, *args, **kwargs):
        where(X)
        return fit(self, X, *args, **kwargs)

    def spy_top_k(sim, k):
        where(sim)
        return top_k(sim, k)

    with monkeypatch.context() as m:
        m.setattr(LinearProbe, "fit", spy_fit)
        m.setattr(knn, "top_k", spy_top_k)
        if tensors:
            m.setattr(device, "HOST_DEVICES", frozenset())
        with computing_on(on):
            measured = get_audit(audit).measure(AuditContext.of(audit, extractor, probe_set))
    return measured, set(seen)


@pytest.mark.parametrize("on", [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device")]),
])
@pytest.mark.parametrize("audit", AUDITS)
def test_an_audit_measures_the_same_from_device_tensors(audit, on, extractor, probe_set,
                                                         monkeypatch):
    host, host_seen = _measure(audit, extractor, probe_set, "cpu", monkeypatch, tensors=False)
    moved, moved_seen = _measure(audit, extractor, probe_set, on, monkeypatch, tensors=True)
    assert host_seen == {"host"}
    # Every fit (the planted checks' too) and every k-NN got the table's tensor.
    assert moved_seen == {on}
    assert set(moved) == set(host)
    # Not bit for bit: torch and numpy sum the standardisation's means in another
    # order, and from a difference of 1e-16 the probe's 50 L-BFGS steps end a few
    # boundary rows on the other side (2 of 576 in the JPEG audit here). 0.01 is
    # about five rows of these samples; a wrong row or a wrong scale moves far more.
    for metric, m in host.items():
        other = moved[metric]
        np.testing.assert_allclose([other.value, *other.ci, other.detectable],
                                   [m.value, *m.ci, m.detectable], atol=0.01,
                                   err_msg=f"{audit} {metric}")
