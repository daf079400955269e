"""Stores: `open_store(url)` picks the implementation from the URL.

- None / "" -> the embedded default at $LVMGATE_STORE or ./artifacts/store (no server needed)
- "sqlite:///path.db" or a plain directory path -> EmbeddedStore
- "postgresql://..." / "postgres://..." -> PostgresStore (LNSP-style cpe_entry + cpe_vectors)
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from lvmgate.errors import InputError
from lvmgate.stores.base import DatasetInfo, IngestResult, Store
from lvmgate.stores.embedded import EmbeddedStore

DEFAULT_STORE = "artifacts/store"

__all__ = ["DEFAULT_STORE", "DatasetInfo", "EmbeddedStore", "IngestResult", "Store", "open_store"]


def open_store(url: str | os.PathLike | None = None) -> Store:
    """Open the store a URL names; unknown schemes and unreachable servers are InputErrors."""
    url = str(url) if url else os.environ.get("LVMGATE_STORE") or DEFAULT_STORE
    scheme = urlparse(url).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        from lvmgate.stores.postgres import PostgresStore

        return PostgresStore(url)
    if scheme == "sqlite":
        path = url[len("sqlite://") :]
        if not path or path == "/":
            raise InputError(f"sqlite URL needs a path, e.g. sqlite:///data/lvm.db (got {url!r})")
        return EmbeddedStore(path if not path.startswith("//") else path[1:], url=url)
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        return EmbeddedStore(url[len("file://") :] if scheme == "file" else url, url=url)
    raise InputError(
        f"unknown store scheme {scheme!r} in {url!r} (use a directory, sqlite:///x.db or postgresql://...)"
    )
