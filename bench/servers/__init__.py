"""The fixed references bench/request_path.py serves beside Tombola (not part of Tombola)."""
