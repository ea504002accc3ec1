import platform
import subprocess
import sys

import pytest

from auditkit import allocator

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the allocator setting is glibc's")

# Frees and reallocates a 64 MB block, as a forward pass does with its
# activations, and prints the page faults of the reallocations.
_CYCLES = """
import resource, numpy as np
{setup}
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = np.ones(8 * 2**20); del block
before = faults()
for _ in range(5):
    block = np.ones(8 * 2**20); del block
print(faults() - before)
"""


def _faults(setup: str, **env: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CYCLES.format(setup=setup)], check=True,
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env})
    return int(out.stdout.strip())


def test_an_audit_session_keeps_freed_blocks_for_reuse():
    # Refaulted, 5 x 64 MB is at least 160 faults (one per 2 MiB huge page,
    # which numpy asks for); kept, next to none.
    plain = _faults("")
    session = _faults("from auditkit.run_config import RunConfig\n"
                      "from auditkit.session import AuditSession\n"
                      "AuditSession(RunConfig(encoders=('pixels',)))")
    assert plain >= 160
    assert session <= 16


def test_the_user_can_keep_malloc_as_it_comes():
    setup = "from auditkit.allocator import retain_freed_memory; assert not retain_freed_memory()"
    assert _faults(setup, AUDITKIT_MALLOC="default") >= 160
    assert _faults(setup, GLIBC_TUNABLES="glibc.malloc.trim_threshold=0") >= 160


def test_it_is_applied_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setattr(allocator, "_raise_thresholds", lambda: calls.append(1) or True)
    assert allocator.retain_freed_memory() and allocator.retain_freed_memory()
    assert len(calls) == 1
