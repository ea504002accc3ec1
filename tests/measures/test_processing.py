import numpy as np
import pytest

from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.encoders.base import Encoder
from auditkit.extract import Extractor
from auditkit.measures import processing


class Blind(Encoder):
    """Ignores its input: a null encoder that must sit at chance."""

    spec = "blind"

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def preprocess(self, image):
        return np.zeros(1, np.float32)

    def embed_batch(self, batch):
        return self.rng.normal(size=(len(batch), 16)).astype(np.float32)


@pytest.fixture(scope="module")
def probe_set():
    return builtin_probe_set(seed=0, max_images=30)


def test_pixels_baseline_sees_resizing(probe_set):
    ms = processing.measure("processing_resizing", Extractor(build_encoder("pixels")), probe_set)
    leak = ms["leakage"]
    assert leak.ci[0] > 0.5
    assert leak.details["n_classes"] == 3 and leak.n == 90


def test_blind_encoder_sits_at_chance(probe_set):
    ms = processing.measure("processing_sharpening", Extractor(Blind()), probe_set)
    lo, hi = ms["leakage"].ci
    assert lo <= 0.05 and hi >= -0.3
    assert ms["accuracy"].chance == pytest.approx(1 / 3)


def test_masked_jpeg_control_runs_and_reports_what_survives(probe_set):
    ms = processing.measure("processing_masked_jpeg", Extractor(build_encoder("pixels")),
                            probe_set)
    leak = ms["leakage"]
    assert leak.details["n_classes"] == 6
    assert all(c.endswith("centre masked") for c in leak.details["classes"])
    # The card states the share of the model's input that was border.
    assert leak.details["mask"]["border_fraction"] == pytest.approx(0.05, abs=0.01)
    # Traces survive at the border for the native-resolution baseline.
    assert leak.ci[0] > 0.2
