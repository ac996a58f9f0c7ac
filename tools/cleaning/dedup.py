"""Exact and near-duplicate detection over cleaned records, shared by both wash engines.

Exact duplicates share the SHA-256 of their normalized ``title + text`` (case-folded,
whitespace collapsed). Near duplicates are found with MinHash LSH over word 5-shingles
(datasketch, fixed seed) and confirmed by the exact Jaccard similarity of the two shingle
sets: LSH only proposes candidates (banded for 99% recall at the threshold) and never
decides.

Survivor rule (deterministic, independent of input order): records are ranked by
normalized length (longer first), then by the number of non-empty metadata fields (richer
first), then by id (smallest first). Walking that ranking, a record is dropped when a better
ranked survivor has the same exact key, or a verified Jaccard similarity at or above the
threshold; otherwise it survives. Every dropped record therefore names one survivor it truly
duplicates, and the survivor lists the dropped ids in ``metadata["duplicates"]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from tools.records import RecordRow

SHINGLE_WORDS = 5
NUM_PERM = 128
SEED = 1
SCHEME = "affine32"
DEFAULT_THRESHOLD = 0.85
CANDIDATE_RECALL = 0.99


@dataclass(frozen=True)
class DedupFeatures:
    """What dedup needs from one record, cheap to compute in parallel and to ship.

    Attributes:
        id: Record id.
        rank: Sort key of the survivor rule (smaller is better).
        exact_key: SHA-256 of the normalized title and text.
        signature: MinHash values of the word shingles, or None when there are none.
    """

    id: str
    rank: tuple[int, int, str]
    exact_key: str
    signature: np.ndarray | None


@dataclass(frozen=True)
class Drop:
    """One record removed as a duplicate.

    Attributes:
        id: The dropped record.
        survivor: The kept record it duplicates.
        kind: ``exact`` or ``near``.
        similarity: Verified Jaccard similarity of the shingle sets (1.0 for exact).
    """

    id: str
    survivor: str
    kind: Literal["exact", "near"]
    similarity: float

    @property
    def reason(self) -> str:
        """Skip reason for the run report, e.g. ``duplicate of jira:X-1 (near, 0.91)``."""
        return f"duplicate of {self.survivor} ({self.kind}, jaccard {self.similarity:.2f})"


def normalize(title: str, text: str) -> str:
    """Case-fold ``title`` and ``text`` and collapse all whitespace to single spaces."""
    return " ".join(f"{title}\n{text}".casefold().split())


def shingles(normalized: str, size: int = SHINGLE_WORDS) -> set[str]:
    """Word ``size``-shingles of normalized text; a shorter text is one shingle, empty none."""
    words = normalized.split(" ") if normalized else []
    if len(words) <= size:
        return {normalized} if normalized else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two sets (0.0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def lsh_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """Return LSH ``(bands, rows)`` for a verified-Jaccard ``threshold``.

    The most rows per band (fewest false candidates) such that a pair exactly at
    ``threshold`` still becomes a candidate with probability ``CANDIDATE_RECALL``.

    For 0.85 and 128 permutations this is 16 bands of 8 rows (probability 0.994).
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= CANDIDATE_RECALL:
            return bands, rows
    return num_perm, 1


@lru_cache(maxsize=1)
def _permutations() -> np.ndarray:
    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


def signature(shingle_set: Iterable[str]) -> np.ndarray | None:
    """MinHash values of a shingle set (fixed seed, so equal in every process), or None."""
    encoded = sorted(s.encode("utf-8") for s in shingle_set)
    if not encoded:
        return None
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, permutations=_permutations())
    minhash.update_batch(encoded)
    return minhash.hashvalues


def survivor_rank(row: RecordRow, normalized: str) -> tuple[int, int, str]:
    """Sort key of the survivor rule: longer, then richer metadata, then smallest id."""
    filled = sum(1 for value in (row.get("metadata") or {}).values() if value not in (None, "", []))
    return (-len(normalized), -filled, row["id"])


def features(row: RecordRow) -> DedupFeatures:
    """Compute the dedup features of one cleaned record dict."""
    normalized = normalize(row.get("title", ""), row.get("text", ""))
    return DedupFeatures(
        id=row["id"],
        rank=survivor_rank(row, normalized),
        exact_key=hashlib.sha256(normalized.encode("utf-8")).hexdigest(),
        signature=signature(shingles(normalized)),
    )


def find_duplicates(
    rows: Sequence[RecordRow],
    feats: Sequence[DedupFeatures],
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Drop]:
    """Decide which records to drop, following the survivor rule of this module.

    Args:
        rows: Cleaned record dicts (used to verify near-duplicate candidates).
        feats: ``features(row)`` for the same records, in any order.
        threshold: Minimum verified Jaccard similarity of a near duplicate, in (0, 1].

    Returns:
        The drops, sorted by dropped id.

    Raises:
        ValueError: ``threshold`` is out of range or ids are not unique.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    by_id = {row["id"]: row for row in rows}
    if len(by_id) != len(rows) or len({f.id for f in feats}) != len(feats):
        raise ValueError("record ids must be unique before dedup")
    ranked = sorted(feats, key=lambda f: f.rank)
    rank_of = {f.id: f.rank for f in ranked}
    lsh = MinHashLSH(num_perm=NUM_PERM, params=lsh_params(threshold))
    kept_by_key: dict[str, str] = {}
    shingle_cache: dict[str, set[str]] = {}

    def shingles_of(record_id: str) -> set[str]:
        if record_id not in shingle_cache:
            row = by_id[record_id]
            normalized = normalize(row.get("title", ""), row.get("text", ""))
            shingle_cache[record_id] = shingles(normalized)
        return shingle_cache[record_id]

    drops: list[Drop] = []
    for feat in ranked:
        if feat.exact_key in kept_by_key:
            drops.append(Drop(feat.id, kept_by_key[feat.exact_key], "exact", 1.0))
            continue
        if feat.signature is not None:
            minhash = LeanMinHash(seed=SEED, hashvalues=feat.signature, scheme=SCHEME)
            match = _best_verified(feat.id, lsh.query(minhash), rank_of, shingles_of, threshold)
            if match is not None:
                drops.append(Drop(feat.id, match[0], "near", match[1]))
                continue
            lsh.insert(feat.id, minhash, check_duplication=False)
        kept_by_key[feat.exact_key] = feat.id
    return sorted(drops, key=lambda d: d.id)


def _best_verified(
    record_id: str,
    candidates: Iterable[str],
    rank_of: dict[str, tuple[int, int, str]],
    shingles_of: Callable[[str], set[str]],
    threshold: float,
) -> tuple[str, float] | None:
    """Return the best-ranked candidate whose exact Jaccard reaches ``threshold``, if any."""
    mine = shingles_of(record_id)
    for candidate in sorted(candidates, key=rank_of.__getitem__):
        similarity = jaccard(mine, shingles_of(candidate))
        if similarity >= threshold:
            return candidate, round(similarity, 4)
    return None


def apply_drops(rows: Sequence[RecordRow], drops: Sequence[Drop]) -> list[RecordRow]:
    """Return the surviving rows; each survivor lists its dropped ids in ``duplicates``.

    Rows are copied, never changed in place. ``duplicates`` already listed by a survivor or
    by a record dropped in its favour (from an earlier run) are kept.
    """
    by_id = {row["id"]: row for row in rows}
    dropped = {d.id for d in drops}
    by_survivor: dict[str, set[str]] = {}
    for drop in drops:
        earlier = (by_id[drop.id].get("metadata") or {}).get("duplicates") or []
        by_survivor.setdefault(drop.survivor, set()).update([drop.id, *earlier])
    survivors = []
    for row in rows:
        if row["id"] in dropped:
            continue
        extra = by_survivor.get(row["id"])
        if extra:
            metadata = dict(row.get("metadata") or {})
            metadata["duplicates"] = sorted(extra | set(metadata.get("duplicates") or []))
            row = {**row, "metadata": metadata}
        survivors.append(row)
    return survivors
