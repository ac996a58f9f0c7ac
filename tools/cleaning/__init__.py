"""Cleaning rules shared by the Python and Spark wash engines.

- :mod:`tools.cleaning.text`: unicode, HTML, boilerplate and whitespace rules.
- :mod:`tools.cleaning.redact`: secrets and personal data to typed placeholders.
- :mod:`tools.cleaning.record`: both applied to a whole source record.
"""
