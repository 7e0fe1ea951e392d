"""The audit trail: append-only, written by one session listener (and `record_event` for non-data events)."""
