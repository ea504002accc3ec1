"""A requested device the machine lacks is a usage error at start-up, not a traceback per case."""

import pytest
import torch

from auditkit.device import check_device, pick_device
from auditkit.errors import ConfigError


@pytest.mark.parametrize("requested", [None, "", "auto", "cpu"])
def test_the_cpu_and_auto_are_always_there(requested):
    check_device(requested)


@pytest.mark.parametrize(("requested", "says"), [
    ("tpu", "is not a device"), ("cuda:x", "is not a device"), ("gpu", "is not a device")])
def test_malformed_devices_are_refused(requested, says):
    with pytest.raises(ConfigError, match=says):
        check_device(requested)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_says_so(requested):
    with pytest.raises(ConfigError, match=r"no CUDA device.*--audit-device=cpu"):
        check_device(requested)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_index_past_the_last_device_is_refused():
    check_device("cuda:0")
    with pytest.raises(ConfigError, match="CUDA device"):
        check_device(f"cuda:{torch.cuda.device_count()}")


def test_auto_picks_what_is_there():
    assert pick_device(None) == ("cuda" if torch.cuda.is_available() else "cpu")
