"""Real OpenSearch, Kafka and SeaweedFS (S3) servers for development and tests; see README.md."""
