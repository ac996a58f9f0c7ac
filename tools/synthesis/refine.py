"""The refine stage: cleaned records (and liked chat answers) to SFT train/eval files.

Reads ``cleaned_corpus.jsonl``; synthesizes pairs with the offline refiner or the LLM
(``model_a.provider``; ``auto`` picks ``openai`` when a key resolves and says so), keeping
LLM results in a SQLite cache so unchanged records cost nothing; drops ungrounded answers
and near-duplicate questions; adds ``feedback.jsonl`` rows rated "up" (never "down" rows or
rows flagged as errors); turns a share of the pairs into RAFT examples when a retriever is
given; writes ``sft_train.jsonl`` and ``sft_eval.jsonl`` split by source record.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from tools.cleaning.redact import redact_text
from tools.config import LLMSettings, Settings
from tools.datadir import DataDir
from tools.jsonl import read_jsonl
from tools.records import Chunk, SourceRecord, display_id, stable_hash
from tools.report import StageReport
from tools.synthesis.cache import CacheKey, RefineCache
from tools.synthesis.grounding import QuestionDeduper, content_tokens, is_grounded
from tools.synthesis.llm_refiner import PROMPT_VERSION, LLMRefiner, price_for
from tools.synthesis.offline import offline_pairs
from tools.synthesis.pairs import QAPair
from tools.synthesis.raft import RaftBuilder, SearchFn, chosen_for_raft
from tools.synthesis.split import qa_row, write_split

log = logging.getLogger(__name__)

OFFLINE = "offline"
SOURCES = frozenset({"jira", "git", "docs"})
COUNTERS = (
    "llm_calls",
    "cache_hits",
    "pairs",
    "pairs_dropped_ungrounded",
    "pairs_dropped_duplicate",
    "retries",
    "tokens_prompt",
    "tokens_completion",
    "cost_usd",
    "raft_examples",
)
_CITATION = re.compile(r"[ \t]*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")


def _read_records(path: Path, report: StageReport) -> list[SourceRecord]:
    """Records of the cleaned corpus, sorted by id; bad lines are skipped with a reason."""
    records: dict[str, SourceRecord] = {}
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            item = f"{path.name}:{n}"
            try:
                record = SourceRecord.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                report.skip(item, f"not a source record: {type(exc).__name__}: {exc}")
                continue
            if record.source not in SOURCES:
                report.skip(record.id, f"unknown source {record.source!r}")
            elif not record.text.strip():
                report.skip(record.id, "empty text")
            elif record.id in records:
                report.skip(item, f"duplicate id {record.id}")
            else:
                records[record.id] = record
    return [records[key] for key in sorted(records)]


def _offline(records: list[SourceRecord]) -> dict[str, list[QAPair]]:
    return {record.id: offline_pairs(record) for record in records}


def _cache_key(llm: LLMSettings, record: SourceRecord) -> CacheKey:
    return CacheKey(record.content_hash, llm.model, PROMPT_VERSION, "openai")


def _llm(
    llm: LLMSettings,
    records: list[SourceRecord],
    data_dir: Path,
    max_samples: int | None,
    report: StageReport,
    backoff_s: float,
) -> dict[str, list[QAPair]]:
    """Pairs from the cache, plus new LLM calls for at most ``max_samples`` uncached records.

    The records to synthesize are taken in order of a hash of their id, so repeated capped
    runs cover the corpus instead of paying for the same first records again.
    """
    by_id = {record.id: record for record in records}
    raw: dict[str, list[dict[str, Any]]] = {}
    with RefineCache(DataDir(data_dir).refine_cache) as cache:
        todo = []
        for record in records:
            cached = cache.get(_cache_key(llm, record))
            if cached is None:
                todo.append(record)
            else:
                raw[record.id] = cached
                report.count("cache_hits")
        todo.sort(key=lambda record: stable_hash(record.id))
        if max_samples is not None and len(todo) > max_samples:
            report.count("pending", len(todo) - max_samples)
            todo = todo[:max_samples]
        if todo:
            refiner = LLMRefiner(llm, backoff_s=backoff_s)
            for outcome in refiner.refine_all(todo):
                report.counters.update(outcome.counts)
                if outcome.error or outcome.pairs is None:
                    report.fail(outcome.record_id, outcome.error or "no pairs")
                    continue
                cache.put(
                    _cache_key(llm, by_id[outcome.record_id]), outcome.record_id, outcome.pairs
                )
                raw[outcome.record_id] = outcome.pairs
    price = price_for(llm.model)
    cost = price.cost(report.counters["tokens_prompt"], report.counters["tokens_completion"])
    report.counters["cost_usd"] = round(cost, 6)
    return {
        record_id: [
            QAPair(
                str(p.get("question", "")).strip(), str(p.get("answer", "")).strip(), (record_id,)
            )
            for p in pairs
            if isinstance(p, dict)
        ]
        for record_id, pairs in raw.items()
    }


def _resolve_source(source: dict[str, Any], by_display: dict[str, str]) -> str:
    """A cited source (``{"id", "source", ...}``, id as chat shows it) as a record id."""
    sid = str(source.get("id", ""))
    if sid in by_display:
        return by_display[sid]
    kind = source.get("source")
    return f"{kind}:{sid}" if ":" not in sid and kind in ("jira", "docs") else sid


def _feedback(path: Path, records: list[SourceRecord], report: StageReport) -> list[QAPair]:
    """Chat answers rated "up" (without an error) as pairs; their cited records as sources.

    Citation markers such as ``[1]`` are removed from the answer: the plain pair has no
    numbered context to point at. These pairs are human-approved: no grounding check. The
    question and answer are redacted like every other text on its way to the weights (a
    user may have typed a secret into the chat).
    """
    if not path.is_file():
        return []
    by_display = {display_id(r.id): r.id for r in records} | {r.id: r.id for r in records}
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            item = f"{path.name}:{n}"
            report.items_in += 1
            try:
                row = json.loads(line)
            except ValueError as exc:
                report.skip(item, f"malformed JSON: {exc}")
                continue
            if not isinstance(row, dict):
                report.skip(item, "not a JSON object")
            elif row.get("error"):
                report.count("feedback_with_error")
            elif row.get("rating") != "up":
                report.count("feedback_not_up")
            elif not str(row.get("question") or "").strip() or not row.get("answer"):
                report.skip(item, "feedback without question or answer")
            else:
                sources = [s for s in row.get("sources") or [] if isinstance(s, dict)]
                ids = sorted({_resolve_source(s, by_display) for s in sources} - {""})
                question, found_q = redact_text(str(row["question"]).strip())
                answer, found_a = redact_text(_CITATION.sub("", str(row["answer"])).strip())
                for kind, n in (found_q + found_a).items():
                    report.count(f"redacted:{kind}", n)
                pairs.append(QAPair(question, answer, tuple(ids)))
                report.count("feedback_pairs")
    return pairs


def _keep(
    records: list[SourceRecord],
    generated: dict[str, list[QAPair]],
    feedback: list[QAPair],
    report: StageReport,
) -> list[QAPair]:
    """Feedback pairs, then grounded pairs whose questions are not near-duplicates."""
    deduper = QuestionDeduper()
    kept = [pair for pair in feedback if deduper.add(pair.question)]
    report.count("pairs_dropped_duplicate", len(feedback) - len(kept))
    for record in records:
        pairs = generated.get(record.id)
        if pairs is None:
            continue
        report.count("pairs_generated", len(pairs))
        if not pairs:
            report.count("records_without_pairs")
            continue
        tokens = set(content_tokens(f"{record.title}\n{record.text}"))
        for pair in pairs:
            if not pair.question or not is_grounded(pair.answer, tokens):
                report.count("pairs_dropped_ungrounded")
            elif not deduper.add(pair.question):
                report.count("pairs_dropped_duplicate")
            else:
                kept.append(pair)
    return kept


def _chunks_by_doc(path: Path) -> dict[str, list[Chunk]]:
    grouped: dict[str, list[Chunk]] = defaultdict(list)
    if path.is_file():
        for chunk in read_jsonl(path):
            grouped[str(chunk.get("doc_id", ""))].append(chunk)
    return grouped


def _rows(
    pairs: list[QAPair], builder: RaftBuilder | None, report: StageReport
) -> list[dict[str, Any]]:
    """One row per pair: a RAFT row for the chosen share when possible, else a QA row."""
    rows = []
    for pair in pairs:
        source_ids = list(pair.source_ids)
        if builder is not None and chosen_for_raft(pair):
            try:
                messages, reason = builder.build(pair)
            except Exception as exc:  # a failing retriever costs the RAFT form, not the pair
                messages, reason = None, "raft_search_errors"
                log.warning("RAFT search failed for %s: %s", source_ids, exc)
            if messages is not None:
                rows.append({"messages": messages, "source_ids": source_ids, "kind": "raft"})
                report.count("raft_examples")
                continue
            report.count(reason)
        rows.append(qa_row(pair.question, pair.answer, source_ids))
    return rows


def run_refine(
    settings: Settings,
    data_dir: Path,
    max_samples: int | None = None,
    retriever: SearchFn | None = None,
    *,
    backoff_s: float = 1.0,
) -> StageReport:
    """Synthesize SFT pairs from ``data_dir/cleaned_corpus.jsonl`` and write the splits.

    Args:
        settings: The loaded ``models.yaml``; ``model_a`` picks the provider.
        data_dir: Where the corpus is and the SFT files, cache and feedback live.
        max_samples: At most this many new LLM-synthesized records this run (records not
            yet in the cache, in a stable hashed order); ignored by the offline provider.
        retriever: ``search(query, k) -> hits`` over the index, for RAFT examples (e.g.
            ``Retriever(...).search``); without it RAFT examples are skipped and reported.
        backoff_s: First retry delay for LLM calls (doubles per retry unless the server
            sends ``Retry-After``).

    Returns:
        The stage report; counters include ``llm_calls``, ``cache_hits``, ``pairs``,
        ``pairs_dropped_ungrounded``, ``pairs_dropped_duplicate``, ``retries``,
        ``tokens_prompt``, ``tokens_completion``, ``cost_usd``, ``raft_examples``.

    Raises:
        ValueError: ``model_a.provider`` names a provider that cannot refine.
    """
    data_dir = Path(data_dir)
    report = StageReport("refine")
    for name in COUNTERS:
        report.count(name, 0)
    paths = DataDir(data_dir)
    corpus = paths.cleaned_corpus
    if not corpus.is_file():
        report.reason = f"{corpus} not found: run the wash stage first"
        return report.finish("failed")
    records = _read_records(corpus, report)
    report.items_in = len(records) + len(report.skipped)
    provider = settings.model_a.resolved_provider(OFFLINE)
    if provider == OFFLINE:
        generated = _offline(records)
    elif provider == "openai":
        generated = _llm(settings.model_a, records, data_dir, max_samples, report, backoff_s)
    else:
        raise ValueError(
            f"model_a.provider {provider!r} cannot refine: use openai, offline or auto"
        )
    feedback = _feedback(paths.feedback, records, report)
    pairs = _keep(records, generated, feedback, report)
    report.count("pairs", len(pairs))
    builder = None
    if retriever is None:
        report.skip("raft", "no retriever given (index not built yet): RAFT examples skipped")
    else:
        builder = RaftBuilder(retriever, _chunks_by_doc(paths.rag_chunks))
    n_train, n_eval = write_split(data_dir, _rows(pairs, builder, report))
    report.count("train_rows", n_train)
    report.count("eval_rows", n_eval)
    report.items_out = n_train + n_eval
    report.reason = (
        f"provider {provider} ({settings.model_a.model if provider != OFFLINE else 'rules'})"
    )
    log.info(
        "refine: %s, %d records -> %d train + %d eval rows",
        report.reason,
        len(records),
        n_train,
        n_eval,
    )
    return report.finish("failed" if report.failed and not pairs else "ok")
