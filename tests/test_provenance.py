"""Provenance: versions, commit, interpreter, machine and time, read the same way everywhere."""

from __future__ import annotations

import datetime as dt
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from auditkit.provenance import (
    PACKAGES,
    git_commit,
    interpreter,
    machine_info,
    package_versions,
    utc_timestamp,
)


def test_package_versions_name_every_package_and_none_for_a_missing_one() -> None:
    versions = package_versions()
    assert list(versions) == list(PACKAGES)
    assert versions["torch"] == metadata.version("torch")
    assert package_versions(["numpy", "no-such-distribution-here"]) == {
        "numpy": metadata.version("numpy"), "no-such-distribution-here": None,
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_is_head_of_a_checkout_and_none_elsewhere(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()
    assert git_commit(repo) == head and len(head) == 40
    assert git_commit(tmp_path / "repo-less") is None  # no such folder: OSError, not a crash
    (tmp_path / "plain").mkdir()
    assert git_commit(tmp_path / "plain") is None


def test_utc_timestamp_is_now_in_utc_to_the_second() -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    stamp = dt.datetime.fromisoformat(utc_timestamp())
    assert stamp.utcoffset() == dt.timedelta(0) and stamp.microsecond == 0
    assert before <= stamp <= dt.datetime.now(dt.timezone.utc)


def test_machine_info_records_what_a_timing_depends_on() -> None:
    info = machine_info("cpu")
    assert info["device"] == "cpu" and info["gpu"] is None
    assert info["cpu_count"] >= 1 and info["torch_threads"] >= 1
    assert info["python"] == platform.python_version() == interpreter()["python"]
    assert info["platform"] == platform.platform()
    assert info["versions"]["torch"] == metadata.version("torch")
    assert len(info["loadavg_start"]) == 3
    dt.datetime.fromisoformat(info["date"])
