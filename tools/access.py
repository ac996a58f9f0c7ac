"""Who may use a deployment and whose a conversation is: the API key, user ids, thread owners.

Shared by the API (``server.py``) and the chat UI (``chainlit_app``), so a name signed in to
the UI and the same name sent as ``X-User-Id`` to the API own the same threads.
"""

from __future__ import annotations

API_KEY_ENV = "DATA_ALCHEMY_API_KEY"
"""When set, every API route but health needs it (``X-API-Key``) and UI users sign in."""
USER_ID = r"^[A-Za-z0-9_.@:\-]{1,128}$"
"""What a user id (``X-User-Id``, a UI sign-in name) may look like."""
THREAD_OWNER = "owner"
"""The ``configurable`` key (kept in each checkpoint's metadata) naming who started a thread."""


def user_owner(user_id: str) -> str:
    """The owner of the threads a named user starts."""
    return f"user:{user_id}"
