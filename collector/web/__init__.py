"""web: what the collector serves to browsers besides ingest — the snippet files, the demo
shop and the liveness probe."""
