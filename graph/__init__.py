"""Data Alchemy graph."""
