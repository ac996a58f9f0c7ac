"""Data Alchemy tools."""
