"""Data Alchemy nodes."""
