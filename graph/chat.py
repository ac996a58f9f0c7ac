"""The chat graph: condense -> retrieve -> intuition -> fuse.

Retrieval (Agent C) runs first and the adapter's intuition (Agent B) after it, so that the
adapter is never asked when the finalist (Agent D) would drop its answer (no relevant
fact): retrieval takes milliseconds, a generation seconds. ``graph`` has no checkpointer
(``langgraph dev`` supplies its own); the CLI, API and UI compile one with
:func:`build_chat_graph` and a SQLite saver.

The node modules load their heavy libraries when a node first needs them (so a pipeline run
with nothing to do never loads torch), but the tools of the chat nodes are imported here,
with the graph: transformers' lazy imports are not thread-safe, and two threads (a
server's requests) importing at once raised ImportError.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

# The tools of the chat nodes, imported before any request runs them (see above).
import tools.index.search
import tools.lora.infer  # noqa: F401
from graph.configuration import Context
from graph.state import ChatInput, ChatState
from nodes import finalist, knowledge, trainer


def build_chat_graph(checkpointer: Any = None):
    """Compile the chat graph (optionally with a checkpointer for thread memory)."""
    builder = StateGraph(ChatState, input_schema=ChatInput, context_schema=Context)
    builder.add_node("condense", finalist.condense)
    builder.add_node("retrieve", knowledge.retrieve)
    builder.add_node("intuition", trainer.intuition)
    builder.add_node("fuse", finalist.fuse)
    builder.add_edge(START, "condense")
    builder.add_edge("condense", "retrieve")
    builder.add_edge("retrieve", "intuition")
    builder.add_edge("intuition", "fuse")
    builder.add_edge("fuse", END)
    return builder.compile(checkpointer=checkpointer, name="chat")


graph = build_chat_graph()
