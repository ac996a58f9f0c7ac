"""Which merge brought each commit into a repository's mainline, and its pull request.

The mainline is the first-parent chain from the commit read. A commit on a merged branch
was brought in by the merge that first reaches it through a parent other than the first:
the innermost pull request merge when pull requests were merged into a branch that was
merged in turn; a pull request merged on GitHub says so in its subject (``Merge pull
request #457 from owner/branch``). Commits made on the mainline itself were brought in by
none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PULL_REQUEST = re.compile(r"^Merge pull request #(\d+)\b")


@dataclass(frozen=True)
class MergedBy:
    """The merge that brought a commit in.

    Attributes:
        sha: The merge commit.
        pull_request: The number of the pull request it merged, when its subject says.
    """

    sha: str
    pull_request: int | None


def parent_graph(rev_list: str) -> dict[str, list[str]]:
    """``git rev-list --parents`` output as ``{sha: [parent, ...]}``."""
    graph = {}
    for line in rev_list.splitlines():
        sha, *parents = line.split()
        graph[sha] = parents
    return graph


def merged_by(
    parents: Mapping[str, Sequence[str]], head: str, subjects: Mapping[str, str]
) -> dict[str, MergedBy]:
    """The merge that brought each commit reachable from ``head`` into its mainline.

    A pull request merged into a branch that a later merge brought in keeps its own
    number: the innermost pull request merge claims its commits (git flow's feature pull
    requests into ``develop``, then a release pull request into ``master``).

    Args:
        parents: Each commit's parents, first parent first (:func:`parent_graph`).
        head: The commit whose first-parent chain is the mainline.
        subjects: The subject line of each merge commit.

    Returns:
        ``{sha: MergedBy}`` for the commits a merge brought in; mainline commits are
        absent. Linear in the number of commits: each is visited once.
    """
    found: dict[str, MergedBy] = {}
    _claim(parents, subjects, head, None, set(), found)
    return found


def _claim(
    parents: Mapping[str, Sequence[str]],
    subjects: Mapping[str, str],
    start: str,
    by: MergedBy | None,
    seen: set[str],
    found: dict[str, MergedBy],
) -> None:
    """Give ``by`` to the first-parent chain from ``start`` down to what is ``seen``.

    The chain is walked oldest first, so everything an older commit reaches is claimed
    before a newer merge's other parents are; a merge on it claims what those parents
    bring, for itself when it merged a pull request, else for ``by``.
    """
    chain = []
    commit: str | None = start
    while commit is not None and commit not in seen:
        chain.append(commit)
        seen.add(commit)
        commit = next(iter(parents.get(commit, [])), None)
    for commit in reversed(chain):
        if by is not None:
            found[commit] = by
        for side in parents.get(commit, [])[1:]:
            number = PULL_REQUEST.match(subjects.get(commit, ""))
            inner = MergedBy(commit, int(number.group(1))) if number else None
            outer = MergedBy(commit, None) if by is None else by
            _claim(parents, subjects, side, inner or outer, seen, found)
