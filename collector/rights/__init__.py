"""rights: a visitor's data on request — export and erasure (``visitors``). An erasure
also leaves tombstones (``collector.sink.tombstones``) so that the sink drops the visitor's
rows still on their way to the store."""
