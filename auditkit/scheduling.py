"""pytest-xdist scheduling that measures each (encoder, audit) once.

The threshold cases of one (encoder, audit) share one measurement, kept by
the worker that made it; cases sent to two workers measure it twice. The
plugin marks every case with an ``xdist_group`` of its (encoder, audit) and
makes ``loadgroup`` the distribution of ``-n`` without ``--dist``; this
scheduler is ``loadgroup`` with the groups also read from the cases' node
ids, since xdist 3.8 writes a test's group into its node id, which pytest
9.2 no longer lets it change.
"""

from __future__ import annotations

import re

from xdist.scheduler import LoadGroupScheduling

#: A threshold case's id (:attr:`auditkit.verdicts.Threshold.case`): ``max_leakage=0.1``.
_CASE = re.compile(r"[A-Za-z_]\w*=[^=\s]+")


def case_group(nodeid: str) -> str:
    """The node id of an audit case without its threshold: what its cases share.

    The plugin's ids are ``ENCODER-CASE``, the case last; a node id with no
    case in its parameters is its own group.

    Examples
    --------
    >>> case_group("audits/test_jpeg.py::test_jpeg[pixels-max_leakage=0.1]")
    'audits/test_jpeg.py::test_jpeg[pixels]'
    >>> case_group("t.py::test[timm:vit-b-16-max_leakage=1e-05]")
    't.py::test[timm:vit-b-16]'
    >>> case_group("t.py::test_plain[3-4]")
    't.py::test_plain[3-4]'
    """
    if not nodeid.endswith("]"):
        return nodeid
    head, bracket, ids = nodeid[:-1].partition("[")
    cut = ids.rfind("-")
    while cut > 0:
        if _CASE.fullmatch(ids[cut + 1:]):
            return f"{head}{bracket}{ids[:cut]}]"
        cut = ids.rfind("-", 0, cut)
    return nodeid


class CaseGroupScheduling(LoadGroupScheduling):
    """``loadgroup``: a group's tests go to one worker; an audit's cases form a group."""

    def _split_scope(self, nodeid: str) -> str:
        scope = super()._split_scope(nodeid)
        return case_group(nodeid) if scope == nodeid else scope
