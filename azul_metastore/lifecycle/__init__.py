"""Age-off, purge, lost-task retry and reprocessing."""
