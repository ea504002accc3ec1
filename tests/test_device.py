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


@pytest.mark.parametrize(("worker", "count", "expected"), [
    ("gw0", 2, "cuda:0"), ("gw1", 2, "cuda:1"), ("gw2", 2, "cuda:0"), ("gw5", 4, "cuda:1"),
    ("gw3", 1, "cuda:0"), (None, 2, "cuda")])
def test_each_xdist_worker_gets_its_own_cuda_device(monkeypatch, worker, count, expected):
    from auditkit.run_config import RunConfig
    from auditkit.session import AuditSession

    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    assert AuditSession(RunConfig(encoders=("pixels",), device="cuda")).device == expected


@pytest.mark.parametrize("requested", ["cuda:1", "cpu", "mps"])
def test_a_named_device_or_another_kind_is_left_as_given(monkeypatch, requested):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    from auditkit.device import worker_device

    assert worker_device(requested) == requested
