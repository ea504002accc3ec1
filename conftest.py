"""Repo-level defaults for running ``audits/`` from a checkout.

An installed auditkit registers its plugin through the ``pytest11`` entry
point; a bare checkout on ``PYTHONPATH`` loads it from here instead.
"""

from importlib.metadata import entry_points

if not any(ep.value == "auditkit.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["auditkit.plugin"]
