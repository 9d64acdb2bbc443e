"""The metadata index port, the shared encoder, and the SQLite and OpenSearch adapters."""
