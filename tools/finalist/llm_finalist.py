"""The LLM finalist: ``model_d`` through an OpenAI-compatible API, streamed token by token.

The model sees the facts only as quoted ``<source id=n>`` blocks (see ``prompts``). Its
answer is then checked (:func:`postcheck`):

- citation markers that point to no source are removed and the rest renumbered in order of
  first use (``citations.MarkerStream``, applied while streaming);
- every prose sentence before the unverified part that carries no marker gets the flag
  ``[unverified]`` before its end punctuation, unless it ends with ``:`` (an introduction)
  or the answer is a refusal ("I don't know ..."), whose sentences state no facts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tools.config import LLMSettings
from tools.finalist.candidates import candidates
from tools.finalist.citations import marker_numbers, renumber, sentence_spans, tag_sentence
from tools.finalist.extractive import check_intuition
from tools.finalist.prompts import (
    UNCITED_FLAG,
    UNVERIFIED_LABEL,
    finalist_messages,
    is_refusal,
)
from tools.llm import make_chat_model
from tools.records import Hit


def stream_answer(
    question: str, facts: Sequence[Hit], intuition: str | None, llm: LLMSettings
) -> Iterator[str]:
    """Yield the model's answer as it arrives (raw: markers index ``facts``, 1-based)."""
    model = make_chat_model(llm, streaming=True)
    for chunk in model.stream(finalist_messages(question, facts, intuition)):
        if chunk.text:
            yield chunk.text


def generate_answer(
    question: str, facts: Sequence[Hit], intuition: str | None, llm: LLMSettings
) -> str:
    """Return the model's whole answer in one request (raw, as :func:`stream_answer`)."""
    return make_chat_model(llm).invoke(finalist_messages(question, facts, intuition)).text


def flag_uncited(answer: str) -> tuple[str, int]:
    """Flag the sentences that cite nothing; return the answer and how many were flagged."""
    if is_refusal(answer):
        return answer, 0
    label = answer.find(UNVERIFIED_LABEL)
    body_end = label if label >= 0 else len(answer)
    out, last, flagged = [], 0, 0
    for start, end in sentence_spans(answer[:body_end]):
        sentence = answer[start:end]
        if marker_numbers(sentence) or sentence.endswith(":"):
            continue
        out.append(answer[last:start] + tag_sentence(sentence, UNCITED_FLAG))
        last = end
        flagged += 1
    return "".join(out) + answer[last:], flagged


def postcheck(raw: str, n_sources: int) -> tuple[str, list[int], list[str]]:
    """Check a raw answer: drop and renumber markers, flag uncited sentences.

    Returns:
        The checked answer, the 0-based indexes of the cited facts in order of first use,
        and notes on what was changed.
    """
    text, order, dropped = renumber(raw, n_sources)
    text, flagged = flag_uncited(text)
    return text, order, _notes(dropped, flagged)


def _notes(dropped: Sequence[int], flagged: int) -> list[str]:
    """Human notes on what :func:`postcheck` changed."""
    notes = []
    if dropped:
        notes.append(f"removed citation markers pointing to no source: {sorted(set(dropped))}")
    if flagged:
        notes.append(f"flagged {flagged} sentence(s) without a citation as {UNCITED_FLAG}")
    return notes


def intuition_status(answer: str, intuition: str | None, cited: Sequence[Hit]) -> str:
    """How the answer treated the adapter's intuition.

    ``unverified`` when the answer has the labelled unverified part, ``used`` when a fact
    the answer cites supports one of the adapter's sentences, ``dropped`` otherwise, and
    ``none`` without intuition.
    """
    if not (intuition and intuition.strip()):
        return "none"
    if UNVERIFIED_LABEL in answer:
        return "unverified"
    confirmed, _ = check_intuition(intuition, candidates(cited))
    return "used" if confirmed else "dropped"
