"""Background work of a bot process, started after the schema is at head and stopped before
the engine is disposed. Every replica runs it; leases and row locks keep it exactly-once."""
