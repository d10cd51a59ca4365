"""microx collector: receives micro-interaction events and stores them in ClickHouse."""

__version__ = "0.1.0"
