"""Sentences of a Jira thread that talk to people rather than state facts.

An answer quotes facts, not the conversation around them: mentions that copy someone in
("cc @name") or close a sentence to them, greetings, thanks and apologies, sign-offs,
repro reports ("I was able to repro"), requests to someone ("could you check", "please
provide"), courtesies ("I'm glad it works for you", "Sounds good to me", "bumping this"),
QA boilerplate ("Verified fixed", "Closing as invalid", "I'll close this ticket") and, in
an issue, environment listings full of version numbers (a commit's or a page's versions
are what changed: "yarn/1.22.5 npm/? node/v14.13.1" is why a user-agent check was fixed).
A sentence that only opens by addressing someone ("@Eric Wieber I looked at this, the
limitation is ...") keeps what it states: :func:`without_address` drops the address; one
that names someone ("After discussing with @Ewan Harris, we have decided ...") is a
statement.
"""

from __future__ import annotations

import re

_CHATTER = re.compile(
    r"\bcc:?\s+@|(?<![\w.])@[A-Za-z][\w.-]*\W*$"  # "cc @name", "... @name?"
    r"|^(?:hi|hello|hey|dear|cheers|regards|best|thanks|thank you|ping|bump|sorry|\+1)\b"
    r"|\bthanks?\b|\bthank you\b|\bappreciated?\b"
    r"|\bI (?:was|am|wasn't|am not|was not|could|couldn't|can|can't|cannot) (?:able to )?"
    r"(?:repro|reproduce)"
    r"|\b(?:could|can|would) you (?:please )?(?:check|confirm|test|try|look|provide|attach"
    r"|let|send|share|verify)"
    r"|\bplease (?:check|confirm|advise|let|provide|attach|verify|review|test|reopen)"
    r"|\blet me know\b|\bany (?:update|news)\b|\bnext time\b"
    r"|^(?:verified|closing|reopening|tested|ok|okay)\b"
    r"|\bclosing (?:as|ticket)\b|\bglad\b|\bbump(?:ing)? this\b|^sounds (?:good|great|fine)\b"
    r"|\b(?:I|we)(?:'ll| will|'m going to|'re going to) close (?:this|it)\b",
    re.IGNORECASE,
)
_TEST_REPORT = re.compile(
    r"\A\W*(?:verified|tested|closing|reopening)\b|^[ \t]*tested (?:using|with|on)\b"
    r"|^[ \t]*closing(?: ticket)?\.?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_ADDRESS = re.compile(r"(?:@[A-Za-z][\w.-]*(?:\s+[A-Z][\w.-]+){0,3}[,:]?\s+)+(?=\S)")
_VERSION = re.compile(r"\b\d+\.\d+(?:\.[\w-]+)*\b")
MAX_VERSIONS = 3
"""More version numbers than this mark an environment listing ("SDK 3.1.2, CLI 3.1.1 ...")."""


def is_chatter(sentence: str, source: str) -> bool:
    """Whether a sentence of a ``source`` record talks to people instead of stating facts.

    Args:
        sentence: The sentence.
        source: Its record's source (``jira``, ``git``, ``docs``): only an issue's
            sentences list an environment.
    """
    listing = source == "jira" and len(_VERSION.findall(sentence)) > MAX_VERSIONS
    return listing or bool(_CHATTER.search(sentence))


def reports_a_test(comment: str) -> bool:
    """Whether a Jira comment is a tester's report: how a check went, not how it was settled.

    It opens with a tester's word ("Verified as fixed. ...", "Reopening as I am unable to
    ..."), has a line that starts "Tested using:" or a line that says "Closing."; "Fixed in
    3.1.0. I tested with node 14" is a developer's verdict.
    """
    return _TEST_REPORT.search(comment) is not None


def without_address(sentence: str) -> str:
    """The sentence after the mentions it opens with (``@Feon Sua Xin Miao``), if any."""
    match = _ADDRESS.match(sentence)
    return sentence[match.end() :] if match else sentence
