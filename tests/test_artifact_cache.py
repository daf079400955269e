"""The gates' one artifact cache (GateContext.cached): reused only under the same key, never after
--recompute, never when told not to, and a damaged file is computed again."""

from __future__ import annotations

import json

from lvmgate.artifacts import GateContext
from lvmgate.policy import default_policy


def _ctx(tmp_path, recompute=False) -> GateContext:
    return GateContext(None, "d", tmp_path, default_policy(), recompute=recompute)


def test_the_same_key_reuses_and_anything_else_recomputes(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"tool": "t", "value": len(calls)}

    key = {"model_sha256": "abc", "n": 10, "backends": ("vec", "lvm")}  # tuples read back as lists
    first, fresh = _ctx(tmp_path).cached("t", key, compute)
    assert fresh and first["value"] == 1 and first["key"]["backends"] == ["vec", "lvm"]
    again, fresh = _ctx(tmp_path).cached("t", key, compute)
    assert not fresh and again == first and len(calls) == 1
    changed, fresh = _ctx(tmp_path).cached("t", {**key, "n": 11}, compute)
    assert fresh and changed["value"] == 2
    forced, fresh = _ctx(tmp_path, recompute=True).cached("t", {**key, "n": 11}, compute)
    assert fresh and forced["value"] == 3
    untrusted, fresh = _ctx(tmp_path).cached("t", {**key, "n": 11}, compute, reuse=False)
    assert fresh and untrusted["value"] == 4
    path = tmp_path / "d" / "t.json"
    assert json.loads(path.read_text())["value"] == 4  # what is on disk is the last computed
    path.write_text("{ truncated")
    repaired, fresh = _ctx(tmp_path).cached("t", {**key, "n": 11}, compute)
    assert fresh and repaired["value"] == 5
