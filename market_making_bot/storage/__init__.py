"""Recordings: the journal (record), replay (the same code path as live) and export to tables."""
