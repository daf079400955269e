"""Units: memory is GiB everywhere (criterion ids `*_gib`), and byte counts print in binary units."""

from __future__ import annotations

from lvmgate.policy import criterion_ids, default_policy
from lvmgate.results import GIB, human_bytes


def test_every_memory_criterion_is_in_gib():
    policy = default_policy()
    sized = [cid for cid in criterion_ids() if "memory" in cid or "weights" in cid]
    assert sized and all(cid.endswith("_gib") for cid in sized), sized
    assert all(policy[cid].unit.strip() == "GiB" for cid in sized)
    assert not [cid for cid in criterion_ids() if cid.endswith("_gb")]


def test_human_bytes_uses_binary_units():
    assert human_bytes(GIB) == "1 GiB"
    assert human_bytes(1.5 * 2**20) == "1.5 MiB"
    assert human_bytes(9 * GIB + 1) == "9 GiB"
    assert human_bytes(2048) == "2 KiB"
    assert human_bytes(512) == "512 B"
