"""Ingestors: consumer groups that turn events into index documents."""
