"""Agent D's tools: fuse retrieved facts and the adapter's intuition into a cited answer.

:func:`fuse` (``tools.finalist.fuse``) holds the fusion policy; ``condense`` makes a
follow-up standalone; ``citations`` checks and renumbers ``[n]`` markers; ``candidates``
cuts facts into what may be quoted; ``extractive`` and ``llm_finalist`` are the two
finalists, the first quoting commits by ``commits`` and a page's steps by ``steps``.
"""

from tools.finalist.answer import ANSWER_KEYS
from tools.finalist.citations import verify_citations
from tools.finalist.fuse import finalist_name, fuse, relevant_facts, sentence_meaning
from tools.finalist.prompts import DONT_KNOW

__all__ = [
    "ANSWER_KEYS",
    "DONT_KNOW",
    "finalist_name",
    "fuse",
    "relevant_facts",
    "sentence_meaning",
    "verify_citations",
]
