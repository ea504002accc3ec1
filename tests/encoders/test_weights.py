"""Hub resolvers: offline first, one clear error, no network for a cached snapshot."""

import time

import pytest

from auditkit.encoders import weights as weights_mod
from auditkit.encoders.weights import HubFile, resolve_hub_file, resolve_hub_snapshot
from auditkit.errors import WeightsUnavailableError

REVISION = "0123456789abcdef0123456789abcdef01234567"


def _cached_repo(cache, repo_id, files):
    """A repo in the hub cache's layout: refs/main names the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / REVISION
    for name, text in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_text(text)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return snapshot


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """The hub unreachable, and any call that is not cache-only is a bug."""
    import huggingface_hub

    def unreachable(timeout=3.0):
        return False

    monkeypatch.setattr(weights_mod, "hub_reachable", unreachable)
    monkeypatch.setattr(weights_mod, "hub_offline", lambda: False)
    for name in ("snapshot_download", "hf_hub_download"):
        real = getattr(huggingface_hub, name)

        def cache_only(*args, _real=real, **kwargs):
            if not kwargs.get("local_files_only"):
                raise AssertionError("tried to download")
            return _real(*args, **kwargs)

        monkeypatch.setattr(huggingface_hub, name, cache_only)
    return tmp_path / "hub"


def test_cached_snapshot_resolves_to_its_folder(no_network):
    snapshot = _cached_repo(
        no_network, "org/encoder", {"config.json": "{}", "weights/model.safetensors": "x"}
    )
    folder = resolve_hub_snapshot("hf:org/encoder", "org/encoder", None, str(no_network))
    assert folder == str(snapshot)
    filtered = resolve_hub_snapshot("hf:org/encoder", "org/encoder", ["*.json"], str(no_network))
    assert filtered == str(snapshot)


def test_missing_snapshot_gives_the_file_resolvers_message_quickly(no_network):
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as snap:
        resolve_hub_snapshot("hf:org/absent", "org/absent", ["*.safetensors"], str(no_network))
    assert time.monotonic() - start < 5
    with pytest.raises(WeightsUnavailableError) as file:
        resolve_hub_file("hf:org/absent", HubFile("org/absent", ("model.safetensors",)),
                         str(no_network))
    message = str(snap.value)
    assert message.startswith("weights for encoder 'hf:org/absent' are not available: "
                              "the hub cannot be reached from this machine.\n")
    assert "looked for: hub repo 'org/absent', files matching ['*.safetensors']" in message
    assert f"hub cache:  {no_network}" in message and "@path/to/weights" in message
    # Same shape as the file resolver's: only the "looked for" line differs.
    assert [line for line in message.splitlines() if "looked for" not in line] == [
        line for line in str(file.value).splitlines() if "looked for" not in line
    ]
    assert snap.value.__cause__ is None and snap.value.__context__ is None


def test_offline_mode_never_asks_the_hub(no_network, monkeypatch):
    def must_not_ask(timeout=3.0):
        raise AssertionError("checked the network in offline mode")

    monkeypatch.setattr(weights_mod, "hub_offline", lambda: True)
    monkeypatch.setattr(weights_mod, "hub_reachable", must_not_ask)
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE is set") as info:
        resolve_hub_snapshot("hf:org/absent", "org/absent", None, str(no_network))
    assert "files matching" not in str(info.value) and "all files" in str(info.value)


def test_snapshot_downloads_only_after_a_cache_miss_on_a_reachable_hub(monkeypatch, tmp_path):
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, **kwargs):
        calls.append(kwargs["local_files_only"])
        if kwargs["local_files_only"]:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        raise PermissionError("gated repo")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.setattr(weights_mod, "hub_offline", lambda: False)
    monkeypatch.setattr(weights_mod, "hub_reachable", lambda timeout=3.0: True)
    with pytest.raises(WeightsUnavailableError, match="snapshot: PermissionError: gated repo"):
        resolve_hub_snapshot("hf:org/absent", "org/absent", None, str(tmp_path))
    assert calls == [True, False]
