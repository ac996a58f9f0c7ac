"""Source loaders: Jira issues, Git history and documents to source records.

Use :func:`load_sources` to read everything a config names, or the per-source loaders
(:mod:`tools.loaders.jira`, :mod:`tools.loaders.git`, :mod:`tools.loaders.docs`) alone.
"""

from tools.loaders.sources import load_sources, source_fingerprint

__all__ = ["load_sources", "source_fingerprint"]
