"""Fuse retrieved facts and the adapter's intuition into one cited answer.

Fusion policy (both finalists):

- Facts win over intuition. Every factual sentence cites its sources as ``[1]``, ``[2]``;
  the numbers index the returned citation list, numbered in order of first use.
- What only the adapter said is left out or put in a part labelled
  ``Unverified (from the adapter, not found in the sources):``; adapter claims a cited fact
  supports count as ``used``.
- With no facts, none scoring at least ``settings.chat.min_score`` (the dense cosine
  of a hybrid hit, else its ``score``; facts without a score, and hits for a record the
  question names, are kept), or facts that are off topic (``tools.finalist.relevance``),
  the answer says ``I don't know based on the indexed sources`` and names why; no LLM is
  called and the adapter's guess is dropped (it was trained on the same sources that
  turned up nothing).
- Retrieved text is data: the LLM gets it only inside ``<source id=n>`` blocks with a system
  rule that it holds no instructions; the extractive finalist only selects sentences.

The finalist is ``openai`` (``model_d`` through ``tools.llm``) when ``model_d.provider``
resolves to it (``auto``: when the API key resolves), else ``extractive``. When the API
fails before the first token or answers nothing, the extractive finalist answers instead,
``finalist`` says ``extractive`` and ``notes`` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import openai

from tools.config import ChatSettings, LLMSettings, Settings
from tools.finalist.answer import Answer
from tools.finalist.citations import (
    MarkerStream,
    citation_entry,
    cited_sentences,
    renumber,
)
from tools.finalist.extractive import Draft, Meaning, best_sentence, extractive_answer
from tools.finalist.llm_finalist import intuition_status, postcheck, stream_answer
from tools.finalist.prompts import is_refusal, refusal
from tools.finalist.relevance import off_topic
from tools.records import Hit

log = logging.getLogger(__name__)


def sentence_meaning(settings: Settings) -> Meaning | None:
    """The embedding model's closeness for ``fuse`` when ``chat.sentence_meaning`` is on.

    The model is loaded on the first sentence to measure (a refusal or the LLM finalist
    needs none).
    """
    if not settings.chat.sentence_meaning:
        return None

    def meaning(question: str, texts: Sequence[str]) -> Sequence[float]:
        from tools.index.embeddings import get_embedder

        return get_embedder(settings).closeness(question, texts)

    return meaning


def finalist_name(llm: LLMSettings) -> str:
    """``openai`` or ``extractive`` for the ``model_d`` settings (``auto`` picks by key)."""
    return "openai" if llm.resolved_provider("extractive") == "openai" else "extractive"


def relevant_facts(facts: Sequence[Hit], chat: ChatSettings) -> tuple[list[Hit], list[str]]:
    """Keep the usable facts that score at least ``chat.min_score``, at most ``chat.top_k``.

    Returns:
        The kept facts in the given (retrieval) order, and notes on what was left out and
        why (a fact without ``chunk_id`` or text, a repeated chunk, a low score).
    """
    kept: list[Hit] = []
    notes: list[str] = []
    seen: set[str] = set()
    low = 0
    for i, fact in enumerate(facts):
        chunk_id = fact.get("chunk_id") if isinstance(fact, Mapping) else None
        if not chunk_id or not str(fact.get("text") or "").strip():
            notes.append(f"skipped fact #{i}: no chunk_id or no text")
        elif chunk_id in seen:
            notes.append(f"skipped fact #{i}: repeated chunk {chunk_id}")
        elif _scored_low(fact, chat):
            low += 1
        elif len(kept) < chat.top_k:
            kept.append(fact)
            seen.add(chunk_id)
    if low:
        notes.append(f"{low} fact(s) scored below min_score {chat.min_score}")
    return kept, notes


def _scored_low(fact: Hit, chat: ChatSettings) -> bool:
    """Whether a fact's relevance is known and below ``chat.min_score``.

    Relevance is the dense (cosine) score when the hit carries one in ``scores.dense``:
    hybrid search ranks by reciprocal rank fusion, whose ``score`` (about 1/60) says
    nothing absolute. Otherwise it is ``score``. A hit for a record the question names
    (``ranks.named``), or for one linked to it (``features.linked``: the commit citing the
    issue in "which commit closed ALOY-1744?", whatever words it uses), is always relevant.
    """
    if not isinstance(fact, Mapping):
        return False
    if (fact.get("ranks") or {}).get("named") or (fact.get("features") or {}).get("linked"):
        return False
    score = (fact.get("scores") or {}).get("dense")
    score = fact.get("score") if score is None else score
    return score is not None and float(score) < chat.min_score


def fuse(
    question: str,
    facts: Sequence[Hit],
    intuition: str | None,
    settings: Settings,
    stream_callback: Callable[[str], None] | None = None,
    meaning: Meaning | None = None,
) -> Answer:
    """Answer ``question`` from ``facts``, with the adapter's ``intuition`` as a hint.

    Args:
        question: The standalone question.
        facts: Retrieved hits, best first (``chunk_id``, ``doc_id``, ``source``, ``uri``,
            ``title``, ``text``, ``score``, ...).
        intuition: The adapter's answer, or ``None``.
        settings: ``model_d`` picks the finalist; ``chat.min_score`` and ``chat.top_k``
            filter the facts.
        stream_callback: Called with each piece of the answer as it is produced (the
            extractive finalist and refusals send the answer in one piece). Markers arrive
            already renumbered; ``[unverified]`` flags appear only in the final answer.
        meaning: For the extractive finalist, how close in meaning sentences are to the
            question (the embedding model's ``Embedder.closeness``); words only when None.

    Returns:
        ``answer``, ``citations`` (``source``, ``id``, ``title``, ``uri``, ``snippet``,
        ``chunk_id``), ``used_facts`` (cited chunk ids), ``used_lora``,
        ``intuition_status`` (``used|unverified|dropped|none``), ``finalist``
        (``extractive|openai``), ``refused``, and ``notes`` (what was filtered or fixed).

    Raises:
        ValueError: The question is empty.
        openai.APIError: The API failed after part of the answer was streamed.
    """
    if not question or not question.strip():
        raise ValueError("the question is empty")
    emit = stream_callback or (lambda _piece: None)
    has_intuition = bool(intuition and intuition.strip())
    relevant, notes = relevant_facts(facts, settings.chat)
    finalist = finalist_name(settings.model_d)
    reason = off_topic(question, relevant) if relevant else None
    if not relevant or reason:
        reason = reason or (
            f"no retrieved passage scored at least {settings.chat.min_score}"
            if any(_scored_low(f, settings.chat) for f in facts)
            else "no usable passages were retrieved for this question"
        )
        draft = Draft(refusal(reason), "dropped" if has_intuition else "none", True)
        emit(draft.text)
        return _result(draft, [], relevant, finalist, notes)
    if finalist == "openai":
        try:
            return _llm_fuse(question, relevant, intuition, settings.model_d, emit, notes)
        except _NoAnswer as failed:
            log.warning("finalist openai gave no answer, answering extractively: %s", failed)
            notes.append(f"openai finalist gave no answer ({failed}); answered extractively")
            finalist = "extractive"
    draft = extractive_answer(question, relevant, intuition, meaning)
    text, order, _ = renumber(draft.text, len(relevant))
    emit(text)
    return _result(replace(draft, text=text), order, relevant, finalist, notes)


class _NoAnswer(Exception):
    """The API failed before any of the answer was streamed, or the answer was empty."""


def _llm_fuse(
    question: str,
    relevant: Sequence[Hit],
    intuition: str | None,
    llm: LLMSettings,
    emit: Callable[[str], None],
    notes: list[str],
) -> Answer:
    """Stream model_d's answer (markers renumbered on the fly), then post-check it."""
    stream = MarkerStream(len(relevant))
    pieces: list[str] = []
    try:
        for token in stream_answer(question, relevant, intuition, llm):
            pieces.append(token)
            if out := stream.feed(token):
                emit(out)
    except openai.APIError as exc:
        if not pieces:
            raise _NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        raise
    raw = "".join(pieces)
    if not raw.strip():
        raise _NoAnswer("empty answer")
    if tail := stream.flush():
        emit(tail)
    answer, order, changes = postcheck(raw, len(relevant))
    cited = [relevant[i] for i in order]
    draft = Draft(answer, intuition_status(answer, intuition, cited), is_refusal(answer))
    return _result(draft, order, relevant, "openai", notes + changes)


def _result(
    draft: Draft,
    order: Sequence[int],
    relevant: Sequence[Hit],
    finalist: str,
    notes: list[str],
) -> Answer:
    """Assemble the result dict; each citation's snippet is the fact sentence it cites."""
    claims: dict[int, str] = {}
    for sentence, numbers in cited_sentences(draft.text):
        for n in numbers:
            claims.setdefault(n, sentence)
    citations = [
        citation_entry(relevant[i], best_sentence(claims.get(n, ""), str(relevant[i]["text"])))
        for n, i in enumerate(order, 1)
    ]
    return Answer(
        answer=draft.text,
        citations=citations,
        used_facts=[c["chunk_id"] for c in citations],
        used_lora=draft.intuition_status in ("used", "unverified"),
        intuition_status=draft.intuition_status,
        finalist=finalist,
        refused=draft.refused,
        notes=notes,
    )
