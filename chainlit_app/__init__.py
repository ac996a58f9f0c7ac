"""Data Alchemy chainlit_app."""
