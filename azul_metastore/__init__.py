"""Azul-compatible malware metastore: binaries, plugin results, search and lifecycle, standalone."""

__version__ = "0.1.0"

__all__ = ["__version__"]
