"""The real work of Data Alchemy, each part usable without LangGraph.

Importing this package sets ``OMP_WAIT_POLICY=PASSIVE`` (unless the environment says
otherwise) before torch or FAISS load their OpenMP runtimes: FAISS and PyTorch each keep a
team of spinning threads, and on a few cores the spinning of one starved the other (LoRA
generation right after a FAISS search took 2-3 s instead of 0.15 s; see bench/chat.py).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
