"""Turn a follow-up question into a standalone one, using the thread's history.

Two paths, picked like the finalist (``model_d``): ``openai`` asks the model with a short
prompt (the call is tagged ``nostream`` so a LangGraph ``messages`` stream does not show it
as answer tokens); the offline path is rule-based. Without history the question is returned
unchanged.

Offline rule: a question that names its own subject (a Jira key or a commit sha) is
standalone. Otherwise, when it refers back (a pronoun such as "it", "that", "this issue",
"them"; or it opens with "what about", "and", "also", ...; or it has at most one content
word), the salient terms of the recent turns are prepended (see :func:`salient_terms`), at
most ``MAX_CONTEXT_TERMS``: "Regarding ALOY-1000, binding: was it fixed?".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import openai
from langchain_core.messages import BaseMessage

from tools.config import Settings
from tools.finalist.candidates import KEY, STOPWORDS, terms
from tools.finalist.citations import sentences, strip_markers
from tools.finalist.fuse import finalist_name
from tools.finalist.prompts import UNVERIFIED_LABEL, condense_messages, is_refusal
from tools.llm import make_chat_model
from tools.records import SHORT_SHA

log = logging.getLogger(__name__)

MAX_CONTEXT_TERMS = 6
HISTORY_TURNS = 6
TURN_CHARS = 800
_REFERS_BACK = re.compile(
    r"\b(?:it|its|it's|that|this|these|those|they|them|their|the same|the (?:issue|bug|"
    r"ticket|commit|fix|change|problem|feature|one))\b|^\s*(?:what|how) about\b|"
    r"^\s*(?:and|also|but|so|then)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"[A-Z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")
_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant"}


def condense_question(question: str, history: Sequence[Any], settings: Settings) -> str:
    """Return ``question`` made standalone with the help of ``history``.

    Args:
        question: The user's latest question.
        history: Earlier turns, oldest first: LangChain messages or ``{"role"|"type",
            "content"}`` dicts (system and tool messages are ignored). A trailing user
            turn equal to ``question`` is ignored, so the whole thread may be passed.
        settings: ``model_d`` picks the LLM or the offline path.

    Raises:
        TypeError: An item of ``history`` is neither a message nor a role/content dict.
    """
    turns = conversation(history)
    if turns and turns[-1] == ("user", question.strip()):
        turns = turns[:-1]
    if not turns or not question.strip():
        return question
    if finalist_name(settings.model_d) == "openai":
        try:
            return condense_with_llm(question, turns, settings)
        except openai.APIError as exc:
            log.warning("condensing with the LLM failed, using the offline rule: %s", exc)
    return condense_offline(question, turns)


def conversation(history: Sequence[Any]) -> list[tuple[str, str]]:
    """Normalize history to ``(role, text)`` turns, role ``user`` or ``assistant``."""
    turns = []
    for i, item in enumerate(history):
        if isinstance(item, BaseMessage):
            role, content = item.type, item.content
        elif isinstance(item, Mapping) and "content" in item:
            role, content = item.get("role") or item.get("type"), item["content"]
        else:
            raise TypeError(f"history item {i} is not a message or a role/content dict")
        if not role:
            raise TypeError(f"history item {i} has no role or type")
        if role in _ROLES:
            turns.append((_ROLES[role], _text(content).strip()))
    return turns


def _text(content: Any) -> str:
    """Message content as text (the text parts of a multi-part content list)."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return " ".join(
        p if isinstance(p, str) else str(p.get("text", "")) for p in parts if p is not None
    )


def condense_with_llm(question: str, turns: Sequence[tuple[str, str]], settings: Settings) -> str:
    """Ask ``model_d`` for the standalone question; the question itself if it gives none."""
    recent = [(role, text[:TURN_CHARS]) for role, text in turns[-HISTORY_TURNS:]]
    model = make_chat_model(settings.model_d)
    reply = model.invoke(condense_messages(question, recent), config={"tags": ["nostream"]})
    lines = [line.strip().strip("\"'") for line in reply.text.splitlines() if line.strip()]
    standalone = re.sub(r"^(?:standalone )?question:\s*", "", lines[0], flags=re.I) if lines else ""
    return standalone or question


def condense_offline(question: str, turns: Sequence[tuple[str, str]]) -> str:
    """Prepend the recent turns' salient terms to a question that refers back to them."""
    if KEY.search(question) or SHORT_SHA.search(question) or not refers_back(question):
        return question
    context = salient_terms(turns[-HISTORY_TURNS:])
    have = set(terms(question))
    extra = [t for t in context if not set(terms(t)) <= have]
    return f"Regarding {', '.join(extra)}: {question}" if extra else question


def refers_back(question: str) -> bool:
    """Whether a question leans on earlier turns (pronouns, "what about", ellipsis)."""
    return bool(_REFERS_BACK.search(question)) or len(set(terms(question))) <= 1


def salient_terms(turns: Sequence[tuple[str, str]]) -> list[str]:
    """What the recent turns were about, most telling first.

    The Jira keys and shas the user named (latest turn first, so a subject named a few
    turns back still carries), then the content words of the last user question. Only when
    the user named no key or sha do the answers' keys and shas and the names (capitalized
    words) of the last answer count: an answer mentions other issues and people in passing,
    and they are not what the user asks about. Refusals and unverified parts give nothing.
    """
    texts = [(role, _facts_only(text) if role == "assistant" else text) for role, text in turns]
    asked = [text for role, text in reversed(texts) if role == "user"]
    answered = [text for role, text in reversed(texts) if role == "assistant"]
    question = asked[0] if asked else ""
    words = [
        w.strip(".-") for w in re.findall(r"[\w.-]+", question) if terms(w) and not KEY.match(w)
    ]
    if named := _subjects(asked):
        found = [*named, *words]
    else:
        names = [
            name
            for sentence in sentences(answered[0] if answered else "")
            for word in sentence.split()[1:]
            if (name := _name(word)) and name.lower() not in STOPWORDS
        ]
        found = [*_subjects(answered), *words, *names]
    out: list[str] = []
    for term in found:
        if term and term.lower() not in {t.lower() for t in out}:
            out.append(term)
    return out[:MAX_CONTEXT_TERMS]


def _subjects(texts: Sequence[str]) -> list[str]:
    """The Jira keys, then the commit shas, named in ``texts`` (in their order)."""
    keys = [k for text in texts for k in KEY.findall(text)]
    return keys + [sha for text in texts for sha in SHORT_SHA.findall(text)]


def _facts_only(answer: str) -> str:
    """An answer without its markers and unverified part; nothing for a refusal."""
    body = answer.split(UNVERIFIED_LABEL)[0]
    return "" if is_refusal(body) else strip_markers(body)


def _name(word: str) -> str:
    """A capitalized word (a name such as ``Alloy`` or ``TableView``), else ``""``."""
    match = _NAME.fullmatch(word.strip(".,;:!?()[]\"'"))
    return match.group(0) if match else ""
