"""Event sourcing: event payloads (`schema`), the DuckDB store (`store`), replay (`replay`)."""
