"""Which merge brought each commit into a repository's mainline, and its pull request.

The mainline is the first-parent chain from the commit read (``HEAD``). A commit on a
merged branch was brought in by the first mainline merge it is an ancestor of through a
parent other than the first; a pull request merged on GitHub says so in its subject
(``Merge pull request #457 from owner/branch``). Commits made on the mainline itself, and
the merges, were brought in by none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

PULL_REQUEST = re.compile(r"^Merge pull request #(\d+)\b")


@dataclass(frozen=True)
class MergedBy:
    """The merge that brought a commit into the mainline.

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

    Args:
        parents: Each commit's parents, first parent first (:func:`parent_graph`).
        head: The commit whose first-parent chain is the mainline.
        subjects: The subject line of each merge commit.

    Returns:
        ``{sha: MergedBy}`` for the commits a mainline merge brought in; mainline commits
        are absent. Linear in the number of commits: each is visited once.
    """
    mainline = list(_first_parents(parents, head))
    seen: set[str] = set()  # every ancestor of the mainline commits walked so far
    found: dict[str, MergedBy] = {}
    for merge in reversed(mainline):
        brought = _unseen_ancestors(parents, parents.get(merge, [])[1:], seen)
        if brought:
            number = PULL_REQUEST.match(subjects.get(merge, ""))
            by = MergedBy(merge, int(number.group(1)) if number else None)
            found.update(dict.fromkeys(brought, by))
        seen.add(merge)
    return found


def _first_parents(parents: Mapping[str, Sequence[str]], head: str) -> Iterable[str]:
    commit: str | None = head
    while commit is not None:
        yield commit
        commit = next(iter(parents.get(commit, [])), None)


def _unseen_ancestors(
    parents: Mapping[str, Sequence[str]], starts: Iterable[str], seen: set[str]
) -> list[str]:
    """The commits reachable from ``starts`` not in ``seen``; they are added to it."""
    stack, out = list(starts), []
    while stack:
        commit = stack.pop()
        if commit in seen:
            continue
        seen.add(commit)
        out.append(commit)
        stack.extend(parents.get(commit, []))
    return out
