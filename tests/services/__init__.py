"""Smoke tests of the real servers that services/ starts (OpenSearch, Kafka, SeaweedFS S3)."""
