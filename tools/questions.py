"""What a chat question must be before any model sees it: some text, and not too much."""

from __future__ import annotations


class QuestionError(ValueError):
    """A question the caller must change; ``status`` is the HTTP status that says so."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def check_question(question: str, max_chars: int) -> str:
    """Return ``question`` when it can be asked.

    Raises:
        QuestionError: It is blank (422), or longer than ``max_chars`` (413).
    """
    if not question.strip():
        raise QuestionError("the question is empty: send some text", 422)
    if len(question) > max_chars:
        raise QuestionError(
            f"the question has {len(question)} characters; the limit is {max_chars} "
            "(chat.max_question_chars in models.yaml)",
            413,
        )
    return question
