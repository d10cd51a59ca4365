"""sink: from the spool into ClickHouse. ``batch`` reads records in order and drives the
inserts with retry; ``intent`` is the exactly-once record of the insert in flight; ``copies``
finds rows stored already (resent events, a replay over a rebuilt checkpoint); ``records``
gives the engine a batch's records to build the rows of, and ``blocks`` rows at hand for
tools and tests; ``tombstones`` names the erased visitors and
sessions whose rows are dropped before insert; ``store`` is the ClickHouse client and
``migrations`` the schema it applies."""
