"""LLM factory: one ChatOpenAI client for any OpenAI-compatible endpoint.

The refiner (model_a) and the finalist (model_d) both build their clients here, so endpoint,
key, timeout and retry handling are the same everywhere. The client never retries on its own
(``max_retries=0``): callers do their own retries with backoff and count them.
"""

from __future__ import annotations

from langchain_openai import ChatOpenAI

from tools.config import LLMSettings

PLACEHOLDER_KEY = "not-needed"


def make_chat_model(llm: LLMSettings, *, streaming: bool = False) -> ChatOpenAI:
    """Build a ChatOpenAI client from an LLM section of ``models.yaml``.

    Args:
        llm: The ``model_a`` or ``model_d`` settings (``base_url``, ``api_key``, ``model``,
            ``temperature``, ``timeout``).
        streaming: Stream tokens (``.stream()``/``.astream()`` yield them as they come);
            usage is requested in the final chunk.

    Returns:
        A client with no built-in retries; an empty key becomes a placeholder so local
        servers that need no key (Ollama, llama.cpp, vLLM) work.
    """
    return ChatOpenAI(
        model=llm.model,
        base_url=llm.base_url or None,
        api_key=llm.api_key or PLACEHOLDER_KEY,
        temperature=llm.temperature,
        timeout=llm.timeout,
        max_retries=0,
        streaming=streaming,
        stream_usage=True,
    )
