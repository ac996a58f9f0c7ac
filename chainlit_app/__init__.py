"""The Chainlit UI (``app.py``) and its parts.

Importing the package quiets library logs on Chainlit's console (FAISS's loader, weight
bars, deprecation warnings) before the app's imports load those libraries.
"""

from tools.console import quiet_framework_console

quiet_framework_console("chainlit")
