"""Exact content identity of chunk vectors and windows, found by hashing and then verified.

Duplicated chunks (the same vector stored at several rows) make identical training sequences that
row numbers alone cannot see, so identity is by vector content: every row gets a 64-bit hash of its
bytes (integer arithmetic, so identical rows always hash alike), rows sharing a hash are compared
element by element, and each row maps to a "content id": the smallest row position holding exactly
the same vector. Windows are then compared as tuples of content ids (again hash, then verify).
-0.0 and +0.0 count as equal (as `==` does); NaN rows are invalid and reported, never deduplicated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from lvmgate.results import Result

_U64 = np.uint64
_SCAN_BLOCK = 4096  # rows per block: (4096, 768) float32 is 12 MB, stays cache-friendly


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over a uint64 array (a new array; wraps modulo 2**64)."""
    z = np.asarray(z, dtype=_U64).copy()
    z ^= z >> _U64(30)
    z *= _U64(0xBF58476D1CE4E5B9)
    z ^= z >> _U64(27)
    z *= _U64(0x94D049BB133111EB)
    z ^= z >> _U64(31)
    return z


def _word_keys(n: int) -> np.ndarray:
    """(n,) fixed odd 64-bit multipliers, one per word position (the same on every machine)."""
    keys = mix64(np.arange(1, n + 1, dtype=_U64) * _U64(0x9E3779B97F4A7C15))
    return keys | _U64(1)


def row_hashes(block: np.ndarray) -> np.ndarray:
    """(B,) uint64 hashes of the rows of a (B, D) float32 block; identical rows hash alike."""
    block = np.ascontiguousarray(block, dtype=np.float32) + np.float32(0.0)  # -0.0 -> +0.0
    if block.shape[1] % 2 == 0:
        words = block.view(_U64)  # (B, D/2): two float32 per word
    else:
        words = block.view(np.uint32).astype(_U64)
    mixed = words * _word_keys(words.shape[1])
    mixed ^= mixed >> _U64(32)
    return mix64(mixed.sum(axis=1, dtype=_U64))


@dataclass(frozen=True)
class RowScan(Result):
    """One pass over the bank rows a preparation uses: content hashes and invalid rows."""

    rows: np.ndarray = field(repr=False)  # (M,) int64 sorted canonical positions scanned
    hashes: np.ndarray = field(repr=False)  # (M,) uint64 content hash of each scanned row
    nonfinite: np.ndarray = field(repr=False)  # (k,) positions holding NaN or inf
    zero: np.ndarray = field(repr=False)  # (k,) positions whose vector is all zero
    n_rows: int = 0
    n_nonfinite: int = 0
    n_zero: int = 0

    _hidden_fields = ("rows", "hashes", "nonfinite", "zero")

    @property
    def invalid(self) -> np.ndarray:
        """(k,) sorted positions that are NaN/inf or all zero."""
        return np.union1d(self.nonfinite, self.zero)


def _blocks(rows: np.ndarray, block: int):
    """Yield (i, j, slice-or-index) covering rows[i:j]; contiguous runs become slices (fast memmap reads)."""
    for i in range(0, len(rows), block):
        part = rows[i : i + block]
        if part[-1] - part[0] == len(part) - 1:
            yield i, i + len(part), slice(int(part[0]), int(part[-1]) + 1)
        else:
            yield i, i + len(part), part


def scan_rows(bank: np.ndarray, rows: np.ndarray | None = None, *, block: int = _SCAN_BLOCK) -> RowScan:
    """Hash the given sorted rows of an (n, D) bank (all rows when None) and find NaN/inf/zero rows."""
    rows = np.arange(bank.shape[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    hashes = np.empty(len(rows), dtype=_U64)
    nonfinite, zero = [], []
    for i, j, sel in _blocks(rows, block):
        part = np.asarray(bank[sel], dtype=np.float32)  # (b, D)
        hashes[i:j] = row_hashes(part)
        sq = np.einsum("ij,ij->i", part, part)  # NaN/inf propagate into the squared norm
        nonfinite.append(rows[i:j][~np.isfinite(sq)])
        zero.append(rows[i:j][sq == 0.0])
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
    nf, zr = cat(nonfinite), cat(zero)
    return RowScan(rows, hashes, nf, zr, len(rows), len(nf), len(zr))


def content_ids(bank: np.ndarray, scan: RowScan, *, block: int = 65536) -> np.ndarray:
    """(M,) for each scanned row, the smallest scanned position whose vector equals it exactly.

    Rows with equal hashes are compared element by element; a (very rare) hash collision between
    different vectors falls back to grouping that hash's rows by their bytes.
    """
    rows, hashes = scan.rows, scan.hashes
    content = rows.copy()
    if len(rows) < 2:
        return content
    order = np.argsort(hashes, kind="stable")  # equal hashes keep increasing position
    hs = hashes[order]
    repeat = np.flatnonzero(hs[1:] == hs[:-1]) + 1  # sorted slots equal to their predecessor
    if repeat.size == 0:
        return content
    new_group = np.ones(len(hs), dtype=bool)
    new_group[repeat] = False
    group_first = np.flatnonzero(new_group)  # slot of each group's first (smallest) row
    group_of_slot = np.cumsum(new_group) - 1
    member = order[repeat]  # index into rows of each repeated member
    first = order[group_first[group_of_slot[repeat]]]
    equal = np.empty(len(member), dtype=bool)
    for i in range(0, len(member), block):
        a = np.asarray(bank[rows[member[i : i + block]]], dtype=np.float32)
        b = np.asarray(bank[rows[first[i : i + block]]], dtype=np.float32)
        equal[i : i + block] = (a == b).all(axis=1)
    content[member[equal]] = rows[first[equal]]
    collided = np.unique(group_of_slot[repeat[~equal]])
    for g in collided:  # genuine 64-bit collisions: group this hash's rows by exact bytes
        lo = group_first[g]
        hi = group_first[g + 1] if g + 1 < len(group_first) else len(hs)
        idx = order[lo:hi]
        seen: dict[bytes, int] = {}
        vecs = np.asarray(bank[rows[idx]], dtype=np.float32) + np.float32(0.0)
        for k, v in zip(idx.tolist(), vecs):
            content[k] = seen.setdefault(v.tobytes(), int(rows[k]))
    return content


def content_lookup(scan: RowScan, content: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Content ids of arbitrary scanned positions (any shape)."""
    return content[np.searchsorted(scan.rows, positions)]


def repeated_within(keys: np.ndarray) -> np.ndarray:
    """(N,) True where a row of the (N, k) key matrix holds some value twice."""
    if keys.shape[1] < 2:
        return np.zeros(len(keys), dtype=bool)
    s = np.sort(keys, axis=1)
    return (s[:, 1:] == s[:, :-1]).any(axis=1)


def _key_hashes(keys: np.ndarray) -> np.ndarray:
    h = np.zeros(len(keys), dtype=_U64)
    for j in range(keys.shape[1]):
        h = mix64(h ^ (keys[:, j].astype(np.int64).view(_U64) + _U64(0x9E3779B97F4A7C15 * (j + 1) % 2**64)))
    return h


def duplicate_keys(keys: np.ndarray) -> np.ndarray:
    """(N,) True for each row of the (N, k) int64 key matrix equal to an earlier row (exact)."""
    n = len(keys)
    dup = np.zeros(n, dtype=bool)
    if n < 2:
        return dup
    h = _key_hashes(keys)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = hs[1:] == hs[:-1]
    cand = np.zeros(n, dtype=bool)
    cand[order[1:][same]] = True
    cand[order[:-1][same]] = True
    idx = np.flatnonzero(cand)  # ascending window order
    if idx.size == 0:
        return dup
    _, first, inverse = np.unique(keys[idx], axis=0, return_index=True, return_inverse=True)
    dup[idx[np.arange(len(idx)) != first[inverse.ravel()]]] = True
    return dup


def rows_digest(positions: np.ndarray, hashes: np.ndarray) -> str:
    """Digest of (position, content hash) pairs: lets a loader check an explicit bank is the same."""
    d = hashlib.blake2b(digest_size=16)
    d.update(np.ascontiguousarray(positions, dtype="<i8").tobytes())
    d.update(np.ascontiguousarray(hashes, dtype="<u8").tobytes())
    return d.hexdigest()
