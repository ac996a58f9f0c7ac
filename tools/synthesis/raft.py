"""RAFT-style examples (Retrieval-Augmented Fine-Tuning, Zhang et al. 2024).

For a share of the pairs, the training prompt holds the gold chunk (the chunk of the source
record that supports the answer) among distractor chunks mined from our own index: the top
hits for the question that come from other records (hard negatives, not random ones). The
answer cites the gold chunk as ``[n]``, so the adapter learns to pick the right passage out
of retrieved context and to cite it.

Context format (use :func:`context_prompt` wherever the adapter is given retrieved context,
so training and inference match)::

    Context:
    [1] <title>
    <text>

    [2] <title>
    <text>

    Question: <question>
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tools.records import Chunk, Hit, stable_hash
from tools.synthesis.grounding import content_tokens, is_grounded, support
from tools.synthesis.pairs import QAPair

SearchFn = Callable[[str, int], list[Hit]]

RAFT_SHARE = 0.3
N_DISTRACTORS = 3
SEARCH_DEPTH = 20
RAFT_SYSTEM_PROMPT = (
    "You are the team's knowledge assistant. Answer the question from the numbered context "
    "passages; some are unrelated. Cite the passage you used as [n]."
)


def format_context(chunks: Sequence[Chunk | Hit]) -> str:
    """Number chunks as ``[n] title`` followed by their text, blank-line separated."""
    return "\n\n".join(
        f"[{n}] {chunk.get('title', '')}\n{str(chunk.get('text', '')).strip()}"
        for n, chunk in enumerate(chunks, 1)
    )


def context_prompt(question: str, chunks: Sequence[Chunk | Hit]) -> str:
    """The user message for a question asked over retrieved chunks."""
    return f"Context:\n{format_context(chunks)}\n\nQuestion: {question.strip()}"


def _fraction(*parts: str) -> float:
    """A stable number in [0, 1) from ``parts``."""
    return int(stable_hash(list(parts))[:8], 16) / 2**32


def chosen_for_raft(pair: QAPair, share: float = RAFT_SHARE) -> bool:
    """Whether ``pair`` becomes a RAFT example (a stable pick of ``share`` of all pairs)."""
    return _fraction("raft", *pair.source_ids, pair.question) < share


class RaftBuilder:
    """Builds RAFT examples from a retriever and the chunks of each record.

    Args:
        search: ``search(query, k)`` returning hits with ``chunk_id``, ``doc_id``, ``title``
            and ``text``, best first (e.g. ``Retriever.search`` of ``tools.index``).
        chunks_by_doc: The chunks of each record (``rag_chunks.jsonl`` rows by ``doc_id``);
            when a record has none here, its chunks among the search hits are used.
        distractors: How many distractor chunks go with the gold one.
    """

    def __init__(
        self,
        search: SearchFn,
        chunks_by_doc: Mapping[str, Sequence[Chunk]],
        distractors: int = N_DISTRACTORS,
    ) -> None:
        self.search = search
        self.chunks_by_doc = chunks_by_doc
        self.distractors = distractors

    def _gold(self, pair: QAPair, hits: Sequence[Hit]) -> Chunk | Hit | None:
        """The chunk of the pair's record that best supports its answer, if one supports it."""
        own = self.chunks_by_doc.get(pair.source_ids[0]) or [
            h for h in hits if h.get("doc_id") == pair.source_ids[0]
        ]
        scored = [(support(pair.answer, set(content_tokens(c["text"]))), c) for c in own]
        if not scored:
            return None
        best = max(scored, key=lambda item: item[0])[1]
        return best if is_grounded(pair.answer, set(content_tokens(best["text"]))) else None

    def build(self, pair: QAPair) -> tuple[list[dict[str, str]] | None, str]:
        """Return ``(messages, "")`` for a RAFT example, or ``(None, reason)`` when impossible.

        Only single-source pairs can have a gold chunk; others give ``raft_not_single_source``.
        """
        if len(pair.source_ids) != 1:
            return None, "raft_not_single_source"
        hits = self.search(pair.question, SEARCH_DEPTH)
        gold = self._gold(pair, hits)
        if gold is None:
            return None, "raft_no_gold_chunk"
        distractors, seen = [], set()
        for hit in hits:
            if hit.get("doc_id") != pair.source_ids[0] and hit["chunk_id"] not in seen:
                seen.add(hit["chunk_id"])
                distractors.append(hit)
        distractors = distractors[: self.distractors]
        if not distractors:
            return None, "raft_no_distractors"
        position = int(_fraction("slot", *pair.source_ids, pair.question) * (len(distractors) + 1))
        chunks = [*distractors[:position], gold, *distractors[position:]]
        return [
            {"role": "system", "content": RAFT_SYSTEM_PROMPT},
            {"role": "user", "content": context_prompt(pair.question, chunks)},
            {"role": "assistant", "content": f"{pair.answer} [{position + 1}]"},
        ], ""
