"""rights: a visitor's data on request — export (``visitors``) and erasure, which
``tombstones`` keeps effective for rows still on their way to the store."""
