"""What happens to bytes: identification, neutering, extraction, strings and hex views."""
