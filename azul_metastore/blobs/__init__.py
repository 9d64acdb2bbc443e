"""The blob store port and its adapters (files on disk, S3)."""
