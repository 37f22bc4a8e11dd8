"""SQL-database source connector: an ERP's own tables read (connectorx, COPY or SQLAlchemy) onto the raw contracts."""

from connectors.sources.sql.config import SqlSourceConfig, SqlStreamConfig, erp_tables_config, load_sql_config
from connectors.sources.sql.source import SqlSource, SqlSourceError, SqlStream

__all__ = [
    "SqlSource",
    "SqlSourceConfig",
    "SqlSourceError",
    "SqlStream",
    "SqlStreamConfig",
    "erp_tables_config",
    "load_sql_config",
]
