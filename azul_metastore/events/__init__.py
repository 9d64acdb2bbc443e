"""The event log port, its adapters, tracking fields and intake rules."""
