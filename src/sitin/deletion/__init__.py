"""delete_data: fence, purge, blob journal, verification, retention."""
