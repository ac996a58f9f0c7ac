"""Redaction: precision and recall on a labelled test set, and redaction of whole records."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from tools.cleaning.record import clean_record
from tools.cleaning.redact import KINDS, SECRET_KINDS, find_sensitive, placeholder, redact_text
from tools.feedback import make_row
from tools.records import SourceRecord

CASES_PATH = Path(__file__).parent / "data" / "redaction_cases.jsonl"
VERSION = re.compile(r"\bv?\d+(?:\.\d+){2,}(?:[.-]\w+)*")


def load_cases() -> list[dict]:
    with CASES_PATH.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def occurrences(text: str, value: str) -> list[tuple[int, int]]:
    spans, start = [], text.find(value)
    while start >= 0:
        spans.append((start, start + len(value)))
        start = text.find(value, start + 1)
    return spans


def evaluate(cases: list[dict]) -> dict:
    """Score ``find_sensitive`` against the labels of every case.

    A labelled value counts as found when a finding of its kind covers each of its
    occurrences; a finding counts as correct when it overlaps a labelled value of its kind.
    """
    expected, found, predicted, correct = Counter(), Counter(), Counter(), Counter()
    missed, wrong, touched = [], [], []
    for number, case in enumerate(cases):
        text, findings = case["text"], find_sensitive(case["text"])
        labelled = [
            (span, item["kind"])
            for item in case["must_redact"]
            for span in occurrences(text, item["value"])
        ]
        for item in case["must_redact"]:
            expected[item["kind"]] += 1
            spans = occurrences(text, item["value"])
            if spans and all(
                any(f.kind == item["kind"] and f.start <= s and e <= f.end for f in findings)
                for s, e in spans
            ):
                found[item["kind"]] += 1
            else:
                missed.append((number, item))
        for f in findings:
            predicted[f.kind] += 1
            if any(kind == f.kind and s < f.end and f.start < e for (s, e), kind in labelled):
                correct[f.kind] += 1
            else:
                wrong.append((number, f.kind, text[f.start : f.end]))
        for value in case["must_keep"]:
            for s, e in occurrences(text, value):
                if any(f.start < e and s < f.end for f in findings):
                    touched.append((number, value))
    return {
        "expected": expected,
        "found": found,
        "predicted": predicted,
        "correct": correct,
        "missed": missed,
        "wrong": wrong,
        "touched": touched,
    }


def ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def report_lines(scores: dict) -> list[str]:
    lines = [f"{'kind':<22}{'labels':>7}{'recall':>8}{'findings':>10}{'precision':>11}"]
    for kind in KINDS:
        n, p = scores["expected"][kind], scores["predicted"][kind]
        lines.append(
            f"{kind:<22}{n:>7}{ratio(scores['found'][kind], n):>8.3f}"
            f"{p:>10}{ratio(scores['correct'][kind], p):>11.3f}"
        )
    n, p = sum(scores["expected"].values()), sum(scores["predicted"].values())
    lines.append(
        f"{'overall':<22}{n:>7}{ratio(sum(scores['found'].values()), n):>8.3f}"
        f"{p:>10}{ratio(sum(scores['correct'].values()), p):>11.3f}"
    )
    return lines


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return load_cases()


@pytest.fixture(scope="module")
def scores(cases: list[dict]) -> dict:
    return evaluate(cases)


def test_test_set_is_broad(cases: list[dict]) -> None:
    kinds = Counter(item["kind"] for case in cases for item in case["must_redact"])
    assert len(cases) >= 80
    assert set(KINDS) <= set(kinds), f"kinds without a case: {set(KINDS) - set(kinds)}"
    assert sum(bool(case["must_keep"]) and not case["must_redact"] for case in cases) >= 30
    assert sum(case["source"].startswith("corpus:") for case in cases) >= 20


def test_precision_and_recall_are_printed(scores: dict, capsys: pytest.CaptureFixture) -> None:
    with capsys.disabled():
        print("\nredaction test set: recall and precision by kind")
        print("\n".join(report_lines(scores)))
    assert sum(scores["expected"].values()) > 0


def test_recall_is_complete_on_every_secret_kind(scores: dict) -> None:
    missed = [(n, item) for n, item in scores["missed"] if item["kind"] in SECRET_KINDS]
    assert not missed
    for kind in SECRET_KINDS:
        assert scores["found"][kind] == scores["expected"][kind] > 0, kind


def test_personal_data_recall_and_overall_precision(scores: dict) -> None:
    assert not scores["missed"], scores["missed"]
    assert not scores["wrong"], scores["wrong"]


def test_no_look_alike_is_touched(scores: dict) -> None:
    assert not scores["touched"], scores["touched"]


def test_no_version_number_is_redacted(cases: list[dict]) -> None:
    versions = 0
    for case in cases:
        redacted, _ = redact_text(case["text"])
        for value in case["must_keep"]:
            for version in VERSION.findall(value):
                versions += 1
                assert version in redacted, (version, redacted)
    assert versions >= 30


def test_redact_text_replaces_with_typed_placeholders_and_counts() -> None:
    text = (
        "mail me@example.org from 203.0.113.9, token 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,"
        " again me@example.org, on Ti SDK 3.2.0.1"
    )
    redacted, counts = redact_text(text)
    assert redacted == (
        "mail [EMAIL] from [IP], token [SECRET:github-token], again [EMAIL], on Ti SDK 3.2.0.1"
    )
    assert counts == Counter({"email": 2, "ip": 1, "github-token": 1})
    assert placeholder("phone") == "[PHONE]"


def test_redaction_is_idempotent(cases: list[dict]) -> None:
    for case in cases:
        once, _ = redact_text(case["text"])
        twice, counts = redact_text(once)
        assert twice == once
        assert not counts, (once, counts)


def test_text_without_anything_to_redact_is_returned_unchanged(corpus_dir: Path) -> None:
    description = json.loads((corpus_dir / "jira" / "ALOY" / "ALOY-100.json").read_text())[
        "fields"
    ]["description"]
    redacted, counts = redact_text(description)
    assert redacted == description
    assert not counts


# --- whole records ------------------------------------------------------------------------


def jira_record(corpus_dir: Path, key: str) -> dict:
    """A record built from a real issue, with the e-mail-bearing fields a loader fills."""
    issue = json.loads((corpus_dir / "jira" / key.split("-")[0] / f"{key}.json").read_text())
    fields = issue["fields"]
    comments = fields["comment"]["comments"]
    text = fields.get("description") or ""
    for comment in comments:
        text += f"\n\n## Comment by {comment['author']['displayName']} on {comment['created'][:10]}"
        text += f"\n\n{comment.get('body', '')}"
    return SourceRecord(
        id=f"jira:{key}",
        source="jira",
        uri=f"https://jira.appcelerator.org/browse/{key}",
        title=fields["summary"],
        text=text,
        metadata={
            "author": fields["reporter"]["displayName"],
            "created": fields["created"],
            "versions": [v["name"] for v in fields.get("versions") or []],
            "links": [],
        },
    ).to_dict()


def test_clean_record_redacts_title_text_and_nested_metadata(corpus_dir: Path) -> None:
    row = jira_record(corpus_dir, "ALOY-808")
    row["title"] = "Crash for tony@appcelerator.com on 192.168.0.101 with SDK 3.1.0.2"
    row["metadata"]["author"] = "Tony Lukasavage <tony@appcelerator.com>"
    row["metadata"]["files"] = [{"path": "app/config.json", "note": "key AKIAIOSFODNN7EXAMPLE"}]
    row["metadata"]["versions"] = ["Release 3.1.0.2", "1.8.0.2"]

    cleaned, counts = clean_record(row)

    assert cleaned["title"] == "Crash for [EMAIL] on [IP] with SDK 3.1.0.2"
    assert cleaned["metadata"]["author"] == "Tony Lukasavage <[EMAIL]>"
    assert cleaned["metadata"]["files"] == [
        {"path": "app/config.json", "note": "key [SECRET:aws-access-key]"}
    ]
    assert cleaned["metadata"]["versions"] == ["Release 3.1.0.2", "1.8.0.2"]
    assert "192.168.0.101" not in cleaned["text"]
    assert "[ERROR] [iphone, 6.1.3, [IP]]" in cleaned["text"]
    assert counts == Counter({"email": 2, "ip": 2, "aws-access-key": 1})
    assert cleaned["content_hash"] == SourceRecord.from_dict(cleaned).compute_hash()
    assert cleaned["content_hash"] != row["content_hash"]


def test_clean_record_is_deterministic_and_leaves_the_input_alone(corpus_dir: Path) -> None:
    row = jira_record(corpus_dir, "ALOY-210")
    before = json.dumps(row, sort_keys=True)
    first, first_counts = clean_record(row)
    second, second_counts = clean_record(json.loads(before))
    assert first == second and first_counts == second_counts == Counter({"email": 1})
    assert json.dumps(row, sort_keys=True) == before
    assert "mail@focussing.nl" not in first["text"] and "[EMAIL]" in first["text"]


def test_clean_record_rejects_what_is_not_a_record() -> None:
    with pytest.raises(ValueError, match="lacks id"):
        clean_record({"source": "jira", "text": "x"})
    with pytest.raises(ValueError, match="title must be a string"):
        clean_record({"id": "jira:X-1", "source": "jira", "title": 3})
    with pytest.raises(ValueError, match="metadata must be an object"):
        clean_record({"id": "jira:X-1", "source": "jira", "metadata": ["a"]})


def test_email_fields_without_a_dotted_domain_are_redacted():
    from tools.cleaning.record import clean_record

    row = {
        "id": "git:repo@abc",
        "source": "git",
        "uri": "",
        "title": "t",
        "text": "x",
        "metadata": {"author_email": "alice@localhost", "committer_email": "bob@corp"},
    }
    cleaned, counts = clean_record(row)
    assert cleaned["metadata"] == {"author_email": "[EMAIL]", "committer_email": "[EMAIL]"}
    assert counts["email"] == 2


def test_feedback_is_redacted_before_it_is_stored() -> None:
    row = make_row(
        thread_id="t1",
        question="Why was card 4111 1111 1111 1111 charged twice?",
        answer="Run curl -u admin:Pa55w0rd!TNw against the billing API [1].",
        sources=[],
        rating="up",
    )
    assert "4111" not in row["question"] and "[CARD]" in row["question"]
    assert "Pa55w0rd" not in row["answer"] and "[SECRET:cli-credentials]" in row["answer"]
