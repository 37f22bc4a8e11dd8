"""File-drop source connector: CSV, Parquet and JSON exports mapped onto the raw contracts."""
