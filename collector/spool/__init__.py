"""spool: the durable, append-only log between ingest and the sink. An event is
acknowledged only once its record is here (fsynced). The spool knows records, positions and
its own checkpoint — nothing about what reads it or how that reader makes its inserts
idempotent."""
