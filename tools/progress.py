"""Progress bars for long steps: on stderr, and only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress(iterable: Iterable[Any] | None = None, *, desc: str, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr that switches itself off in logs, pipes and Spark executors."""
    return tqdm(iterable, desc=desc, file=sys.stderr, disable=None, dynamic_ncols=True, **kwargs)
