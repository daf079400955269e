"""Stores: `open_store(url)` picks the implementation from the URL.

- None / "" -> the embedded default at $LVMGATE_STORE or ./artifacts/store (no server needed)
- "sqlite:///relative/path.db", "sqlite:////absolute/path.db" (SQLAlchemy's convention) or a plain
  directory path -> EmbeddedStore
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


def sqlite_path(url: str) -> str:
    """The file a sqlite URL names, read as SQLAlchemy reads it: three slashes then the path, so
    sqlite:///x.db is relative to the working directory and sqlite:////srv/x.db is absolute."""
    rest = url[len("sqlite:") :]
    if not rest.startswith("///") or len(rest) == 3:
        raise InputError(
            f"sqlite URL needs a path: sqlite:///relative/lvm.db or sqlite:////absolute/lvm.db (got {url!r})"
        )
    return rest[3:]


def open_store(url: str | os.PathLike | None = None) -> Store:
    """Open the store a URL names; unknown schemes and unreachable servers are InputErrors."""
    url = str(url) if url else os.environ.get("LVMGATE_STORE") or DEFAULT_STORE
    scheme = urlparse(url).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        from lvmgate.stores.postgres import PostgresStore

        return PostgresStore(url)
    if scheme == "sqlite":
        return EmbeddedStore(sqlite_path(url), url=url)
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        return EmbeddedStore(url[len("file://") :] if scheme == "file" else url, url=url)
    raise InputError(
        f"unknown store scheme {scheme!r} in {url!r} (use a directory, sqlite:///x.db or postgresql://...)"
    )
