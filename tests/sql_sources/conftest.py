"""Fixtures for the SQL-source tests: the real PostgreSQL / MariaDB servers (see ``sql_servers``)."""

from __future__ import annotations

from sql_servers import db, world  # noqa: F401  (pytest fixtures re-exported)
