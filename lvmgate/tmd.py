"""TMD codes (Task-Modifier-Domain): names and the 16-bit packing the LNSP schema uses.

Packing, most significant first: 4-bit domain (16 domains), 5-bit task (32), 6-bit modifier (64),
one spare low bit: bits = domain << 12 | task << 7 | modifier << 1.
Domain code 0 is where the LNSP tagger's fallback lands when classification fails, so the plan
reads the share of code 0 as "unknown" (criterion 1.2.unknown_pct).
"""

from __future__ import annotations

import numpy as np

DOMAINS: tuple[str, ...] = (
    "Science",  # 0: also the tagger's fallback ("unknown")
    "Mathematics",
    "Technology",
    "Engineering",
    "Medicine",
    "Psychology",
    "Philosophy",
    "History",
    "Literature",
    "Art",
    "Economics",
    "Law",
    "Politics",
    "Education",
    "Environment",
    "Sociology",
)
UNKNOWN_DOMAIN = 0
N_DOMAINS, N_TASKS, N_MODIFIERS = 16, 32, 64


def domain_name(code: int) -> str:
    """Human name of a domain code; code 0 is labelled as the fallback it usually is."""
    if code == UNKNOWN_DOMAIN:
        return "Science / unknown (code 0)"
    if 0 <= code < N_DOMAINS:
        return DOMAINS[code]
    return f"invalid ({code})"


def pack(domain: int | np.ndarray, task: int | np.ndarray, modifier: int | np.ndarray):
    """Pack TMD codes into 16-bit values; raises ValueError for codes out of range."""
    d, t, m = (np.asarray(x, dtype=np.int64) for x in (domain, task, modifier))
    for arr, hi, name in ((d, N_DOMAINS, "domain"), (t, N_TASKS, "task"), (m, N_MODIFIERS, "modifier")):
        if np.any((arr < 0) | (arr >= hi)):
            raise ValueError(f"{name} code out of range 0..{hi - 1}")
    bits = (d << 12) | (t << 7) | (m << 1)
    return int(bits) if bits.ndim == 0 else bits.astype(np.int32)


def unpack(bits: int | np.ndarray):
    """Inverse of `pack`: (domain, task, modifier)."""
    b = np.asarray(bits, dtype=np.int64)
    out = ((b >> 12) & 0xF, (b >> 7) & 0x1F, (b >> 1) & 0x3F)
    if b.ndim == 0:
        return tuple(int(x) for x in out)
    return tuple(x.astype(np.int16) for x in out)
