"""The worklist."""
