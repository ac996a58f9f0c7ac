"""Test doubles that stand at an HTTP boundary."""
