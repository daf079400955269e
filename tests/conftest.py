"""Fixtures shared by the test suite: the throwaway PostgreSQL server (started once per session)."""

from lvmgate.testing.pg import pg_db_url, pg_url  # noqa: F401
