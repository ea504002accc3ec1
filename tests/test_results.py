import json

import pytest

from auditkit.results import (
    AUDIT_KEYS,
    OPTIONAL_AUDIT_KEYS,
    AuditResult,
    build_document,
    load_document,
    validate_document,
    write_json_atomic,
)


def _result(**kw):
    base = dict(audit="jpeg_quality", case="max_leakage=0.1", metric="leakage", value=0.42,
                ci=(0.3, 0.5), chance=1 / 6, threshold=0.1, direction="max", verdict="fail",
                n=1200, details={"confusion": [[1, 0], [0, 1]]})
    base.update(kw)
    return AuditResult(**base)


def test_document_has_the_contract_keys(tmp_path):
    doc = build_document({"spec": "pixels", "fingerprint": "ab"}, {"seed": 0},
                         [_result(), _result(value=float("nan"), verdict="error", ci=None)])
    assert set(doc) == {"schema_version", "encoder", "provenance", "audits"}
    assert all(set(a) == {*AUDIT_KEYS, *OPTIONAL_AUDIT_KEYS} for a in doc["audits"])
    assert doc["audits"][1]["value"] is None  # NaN is not JSON
    path = tmp_path / "out" / "results.json"
    write_json_atomic(path, doc)
    text = path.read_text()
    json.loads(text)  # strict JSON, no NaN
    assert path.stat().st_mode & 0o777 == 0o644
    assert load_document(path)["audits"][0]["ci"] == [0.3, 0.5]
    assert AuditResult.from_json(doc["audits"][0]) == _result()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(schema_version=99), "schema_version"),
        (lambda d: d.pop("audits"), "audits"),
        (lambda d: d["encoder"].pop("fingerprint"), "fingerprint"),
        (lambda d: d["audits"][0].pop("verdict"), "missing keys"),
        (lambda d: d["audits"][0].update(verdict="maybe"), "verdict"),
    ],
    ids=["wrong-version", "no-audits", "no-fingerprint", "entry-missing-key", "bad-verdict"],
)
def test_validation_names_what_is_wrong(mutate, match):
    doc = build_document({"spec": "pixels", "fingerprint": "ab"}, {}, [_result()])
    mutate(doc)
    with pytest.raises(ValueError, match=match):
        validate_document(doc)


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"results\.json"):
        load_document(bad)
