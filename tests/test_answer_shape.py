"""The shape of offline answers: commits first for a change, steps for a how-to, refusals.

Real records: two Alloy commits that fix ALOY-1633 (rebuilt into a git repository and read by
the git loader), the issue itself (Jira loader) and the Appc Daemon's Getting Started page
(docs loader), chunked by the project's chunker.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.test_finalist_extractive import (
    commit_record,
    doc_record,
    hits_from_records,
    jira_record,
)
from tools.config import Settings
from tools.finalist import fuse, sentence_meaning, verify_citations
from tools.finalist.candidates import Candidate, _code_parts, _imports, candidates, terms
from tools.finalist.chatter import is_chatter, reports_a_test, without_address
from tools.finalist.citations import (
    marker_numbers,
    sentence_spans,
    sentences,
    strip_markers,
    table_rows,
)
from tools.finalist.commits import files_named
from tools.finalist.extractive import Closeness, rank, select
from tools.index.embeddings import EmbeddingError, get_embedder
from tools.loaders.git import load_git_repo
from tools.records import SourceRecord
from tools.report import StageReport
from tools.sample_data import rebuild_repo

KEY = "ALOY-1633"


@pytest.fixture(scope="module")
def commits(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    folder = tmp_path_factory.mktemp("git")
    export = folder / "alloy.commits.jsonl"
    lines = (corpus_dir / "git" / "alloy.commits.jsonl").read_text("utf-8").splitlines()
    export.write_text("\n".join(ln for ln in lines if KEY in json.loads(ln)["message"]) + "\n")
    repo = rebuild_repo(export, folder / "alloy")
    found = list(load_git_repo(repo, StageReport("git")))
    assert len(found) == 2
    return found


@pytest.fixture
def settings(extractive_settings: Settings) -> Settings:
    return extractive_settings


def _every_sentence_cited(answer: str) -> None:
    for start, end in sentence_spans(answer):
        assert marker_numbers(answer[start:end]), answer[start:end]


def test_what_fixed_an_issue_leads_with_its_commits(corpus_dir, commits, settings):
    facts = hits_from_records([jira_record(corpus_dir, KEY), *commits])

    result = fuse(f"What fixed {KEY}?", facts, None, settings)

    paragraphs = result["answer"].split("\n\n")
    assert [p.split(" ", 1)[0] for p in paragraphs] == ["Commit", "Commit", KEY]
    newest = max(commits, key=lambda c: c.metadata["created"])
    assert f"Commit {newest.metadata['sha'][:7]} by Ewan Harris on 2019-11-20: " in result["answer"]
    assert "fix(compile): correctly obtain node name" in paragraphs[0] + paragraphs[1]
    assert "handle-alloy-globals.js" in result["answer"]  # the files it changed
    cited = list(dict.fromkeys((c["source"], c["id"]) for c in result["citations"]))
    assert [source for source, _ in cited] == ["git", "git", "jira"]
    assert verify_citations(result["answer"], result["citations"], facts) == []
    _every_sentence_cited(result["answer"])


def test_which_commit_is_answered_by_the_commits_alone(corpus_dir, commits, settings):
    facts = hits_from_records([jira_record(corpus_dir, KEY), *commits])

    result = fuse(f"Which commit fixed {KEY}, and who made it?", facts, None, settings)

    # the asker named the issue; the commits' subjects say what they did
    assert [p.split(" ", 1)[0] for p in result["answer"].split("\n\n")] == ["Commit", "Commit"]
    assert {c["source"] for c in result["citations"]} == {"git"}
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_the_issue_joins_its_commits_only_for_what_when_or_which_release(
    corpus_dir, commits, settings
):
    facts = hits_from_records([*commits, jira_record(corpus_dir, KEY)])
    what = "the compile fix that correctly obtains the node name"

    def sources(question: str) -> list[str]:
        cited = fuse(question, facts, None, settings)["citations"]
        return list(dict.fromkeys(c["source"] for c in cited))

    assert sources(f"Who committed {what}?") == ["git"]  # the commits say who
    assert sources(f"Which files did the commit for {what} change?") == ["git"]
    assert sources(f"When was {what} committed?") == ["git", "jira"]  # the issue's release
    assert sources(f"What was the fix for {what}?") == ["git", "jira"]


def test_one_commit_asked_for_is_answered_without_its_siblings(corpus_dir, commits, settings):
    facts = hits_from_records([*commits, jira_record(corpus_dir, KEY)])  # both cite the issue
    what = "correctly obtains the node name in the compiler"

    def cited(question: str) -> list[str]:
        answer = fuse(question, facts, None, settings)["answer"]
        return [facts[int(n) - 1]["source"] for n in dict.fromkeys(marker_numbers(answer))]

    assert cited(f"Which commit {what}?") == ["git"]
    assert cited(f"What did Ewan commit that {what}?") == ["git"]  # one change, as a verb too
    assert cited(f"Which commits {what}?") == ["git", "git"]  # those citing the same issue


def test_a_question_about_commits_gets_the_next_on_its_file_or_by_its_author(corpus_dir, tmp_path):
    # three real Alloy commits by one author, no issue linked: the order of the facts
    wanted = ["6529f6ed", "977f7631", "06eccc84"]
    lines = (corpus_dir / "git" / "alloy.commits.jsonl").read_text("utf-8").splitlines()
    export = tmp_path / "alloy.commits.jsonl"
    export.write_text("\n".join(ln for ln in lines if json.loads(ln)["sha"][:8] in wanted))
    found = list(load_git_repo(rebuild_repo(export, tmp_path / "alloy"), StageReport("git")))
    titles = ["added splash screen", "added boot image", "removed platform-specific"]
    found.sort(key=lambda record: [record.title.startswith(t) for t in titles].index(True))
    facts = hits_from_records(found)  # rebuilt, so their shas are new
    settings = Settings()

    plural = fuse("tonylukasavage's June 2012 commits adding splash images", facts, None, settings)
    single = fuse("tonylukasavage's June 2012 commit adding a splash image", facts, None, settings)

    def cited(result: dict[str, Any]) -> list[str]:
        return [facts[int(n) - 1]["title"] for n in dict.fromkeys(marker_numbers(result["answer"]))]

    assert cited(plural) == [found[0].title, found[1].title]  # the next by the same author
    assert cited(single) == [found[0].title]
    assert verify_citations(plural["answer"], plural["citations"], facts) == []
    what_did = "What did tonylukasavage change for splash images in {}?"
    assert cited(fuse(what_did.format("June 2012"), facts, None, settings)) == cited(plural)
    assert cited(fuse(what_did.format("2013"), facts, None, settings)) == [found[0].title]
    one = "What did tonylukasavage commit for splash images in June 2012?"  # one commit
    assert cited(fuse(one, facts, None, settings)) == [found[0].title]

    facts = hits_from_records([found[2], found[0], found[1]])
    by_file = fuse("Which commits touched splash.css?", facts, None, settings)
    assert not files_named("Which commits changed splash.css.bak?", facts[0])
    commits = re.findall(r"^Commit \w+ by \w+ on [\d-]+: (.+?) \(changed", by_file["answer"], re.M)
    assert commits == [found[2].title, found[1].title]  # the next on splash.css, not by author


def test_what_else_a_commit_brought_is_the_rest_of_its_message(corpus_dir, tmp_path, settings):
    facts = hits_from_records([commit_record(corpus_dir, "appc-daemon", "aebd28f4", tmp_path)])
    what = "Chris's commit that made appcd-nodejs download the signed Node executable on macOS"

    alone = fuse(f"Which was {what}?", facts, None, settings)["answer"]
    brought = fuse(f"{what}: what else went in with it?", facts, None, settings)["answer"]

    assert "[DAEMON-40] Download the signed Node.js executable on macOS" in alone
    assert "DAEMON-42" not in alone
    assert brought.startswith(alone.split(" [1]. ", 1)[0])  # the same lead
    # the message's next paragraphs, though they share no word with the question
    assert "[DAEMON-42] Add a default served root to appcd-http [1]." in brought
    assert "Fixed bug with errors during shutdown" in brought
    assert "[DAEMON-47]" not in brought  # a few sentences, not the whole message
    _every_sentence_cited(brought)
    assert "- ... and 2 more files" in facts[-1]["text"]  # 52 changed, 50 listed
    assert not [c.text for c in candidates(facts) if "more files" in c.text]  # not a sentence


def test_why_a_commit_was_made_is_the_rest_of_its_message(corpus_dir, tmp_path, settings):
    facts = hits_from_records([commit_record(corpus_dir, "alloy", "30b43728", tmp_path)])

    which = fuse("Which commit made Alloy explicitly assign the globals?", facts, None, settings)
    why = fuse("Why did Ewan change Alloy to assign the globals?", facts, None, settings)

    reason = "The attempt to inject when required was cute but had some flaws"
    assert reason not in which["answer"]
    assert reason in why["answer"]  # the body says why, in none of the question's words
    _every_sentence_cited(why["answer"])


def test_a_commit_message_that_is_its_subject_is_not_quoted_again(corpus_dir, tmp_path, settings):
    facts = hits_from_records([commit_record(corpus_dir, "appc-daemon", "358e87ea", tmp_path)])

    question = "When was the repo migrated to Lerna.js, and what else went into that commit?"
    answer = fuse(question, facts, None, settings)["answer"]

    # the lead says the two-sentence message as one: "Lerna.js; [DAEMON-55] Added ..."
    assert answer.count("Migrated repo to use Lerna.js") == 1
    assert "[DAEMON-55] Added retire.js to check" in answer


def test_the_commit_of_an_open_issue_no_commit_cites_is_refused(corpus_dir, commits, settings):
    open_issue = hits_from_records([jira_record(corpus_dir, "ALOY-1200")])
    question = "Which commit added the CLI option to generate a Titanium project (ALOY-1200)?"

    result = fuse(question, open_issue, None, settings)

    assert result["refused"] and result["answer"].endswith("no commit cites ALOY-1200 (Open).")
    for about in ("What does ALOY-1200 ask for?", "Which change does ALOY-1200 ask for?"):
        assert not fuse(about, open_issue, None, settings)["refused"]  # the issue answers
    fixed = hits_from_records([jira_record(corpus_dir, KEY)])  # resolved, though no commit
    assert not fuse(f"Which commit fixed {KEY}?", fixed, None, settings)["refused"]
    cited = hits_from_records([jira_record(corpus_dir, KEY), *commits])
    assert not fuse(f"Which commit fixed {KEY}?", cited, None, settings)["refused"]


def test_a_question_not_about_a_change_answers_from_the_first_record(corpus_dir, commits, settings):
    facts = hits_from_records([jira_record(corpus_dir, KEY), *commits])
    result = fuse(f"What is {KEY} about?", facts, None, settings)
    assert result["answer"].startswith(f'{KEY} "') and "\n\nCommit " not in result["answer"]
    assert {c["id"] for c in result["citations"]} == {KEY}


def test_a_duplicate_names_the_issues_it_links_to(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-111")])
    result = fuse("What is ALOY-111 about?", facts, None, settings)
    assert "was resolved as Duplicate (linked to ALOY-165) [1]" in result["answer"]


def test_a_sentence_introducing_a_list_is_answered_with_the_list(corpus_dir, settings):
    page = doc_record(corpus_dir, "alloy", "Alloy/commands/compile/parsers/README.md")
    result = fuse(
        "Which parsers exist for UI components?", hits_from_records([page]), None, settings
    )
    lines = result["answer"].splitlines()
    assert lines[0] == "Parsers for UI components [1]."
    assert [line.split(" - ")[0] for line in lines[1:]] == [
        "- default.js",
        "- _ProxyProperty*",
        "- Alloy.Abstract.*",
    ]
    assert "In fact, in most cases" in lines[1]  # an item's later sentences stay with it
    assert verify_citations(result["answer"], result["citations"], hits_from_records([page])) == []


def test_a_reference_table_answers_with_its_row(corpus_dir, settings):
    page = hits_from_records([doc_record(corpus_dir, "appc-daemon", "docs/Exit Codes.md")])
    result = fuse("What does appcd exit code 5 mean?", page, None, settings)
    assert result["answer"].splitlines()[0] == "- 5 | Server was run as root [1]."
    how = fuse("How do I read what exit code 5 means?", page, None, settings)["answer"]
    assert "- 5 | Server was run as root [1]." in how.splitlines()  # a step, once bulleted
    assert verify_citations(result["answer"], result["citations"], page) == []
    assert result["citations"][0]["snippet"] == "5 | Server was run as root"


def test_a_section_heading_says_what_its_sentences_are_about(corpus_dir, settings):
    page = hits_from_records([doc_record(corpus_dir, "alloy", "tools/README.md")])
    result = fuse("What is tools/checkmap.js for?", page, None, settings)
    # the sentence under "### checkmap.js" never names it
    assert "Generates and outputs a source code map file" in result["answer"]
    assert verify_citations(result["answer"], result["citations"], page) == []


def test_a_sentence_that_refers_back_comes_with_the_one_it_refers_to(corpus_dir, settings):
    path = "docs/Development/appcd/Architecture/Dispatcher.md"
    page = hits_from_records([doc_record(corpus_dir, "appc-daemon", path)])
    answer = fuse("What design pattern is the dispatcher modelled on?", page, None, settings)[
        "answer"
    ]
    # "It is the mediator" alone would not say what "it" is
    assert answer.startswith(
        "The Dispatcher is the central message bus that connects all services together [1]. "
        'It is the "mediator"'
    )


def test_a_page_goes_on_into_the_sentence_that_refers_back(corpus_dir, settings):
    path = "packages/appcd-response/messages/en/4xx/404.1-NOT_SUBSCRIBED.md"
    page = hits_from_records([doc_record(corpus_dir, "appc-daemon", path)])
    question = "What happens when a client unsubscribes from a topic it is not subscribed to?"

    answer = fuse(question, page, None, settings)["answer"]

    # the next sentence says what the question asks, in none of its words; the short
    # page's title, "# Not Subscribed", names what it says
    assert answer == (
        "Not Subscribed: The client is not subscribed and thus there is no subscription to "
        "unsubscribe from [1]. This is not considered an error because the action has no "
        "effect [1]."
    )


def test_an_issue_does_not_go_on_into_the_next_sentence(corpus_dir, settings):
    issue = hits_from_records([jira_record(corpus_dir, "ALOY-1685")])
    question = "Does alloy compile run even when no files change?"

    answer = fuse(question, issue, None, settings)["answer"]

    assert "executed on every incremental build, even if no files change [1]." in answer
    assert "This takes a huge amount of our total build time" not in answer


def test_the_sentence_referred_back_to_is_not_quoted_twice(settings):
    subject = "Fix daemon crash on startup without a config file"
    commit = SourceRecord(
        id="git:appc-daemon@" + "a" * 40,
        source="git",
        uri="https://example.invalid/commit",
        title=subject,
        text=f"{subject}.\n\nThis happens because the loader reads a missing config file.",
        metadata={"author": "Chris Barber", "created": "2019-04-01T00:00:00+00:00"},
    )
    answer = fuse(
        "why does the loader read a missing config file?",
        hits_from_records([commit]),
        None,
        settings,
    )["answer"]
    assert answer.count(subject) == 1  # the lead says it; "This happens ..." follows
    assert "This happens because" in answer


def test_table_rows_skip_headers_rules_and_code():
    text = (
        "| Code | Description |\n| :--: | ----------- |\n|  0  | Success |\n| 1 | | \n"
        "```\n| not | a row |\n```\n"
    )
    assert [cells for _, cells in table_rows(text)] == ["0 | Success", "1 |"]


def test_a_how_to_answer_starts_at_the_code_its_best_sentence_follows(corpus_dir, settings):
    page = doc_record(corpus_dir, "alloy", "samples/apps/basics/builtins/README.md")
    facts = hits_from_records([page])
    assert len(facts) == 2  # the code and the sentence after it are in different chunks
    result = fuse("How do I use the animation builtin in a controller?", facts, None, settings)
    first, second = result["answer"].splitlines()
    assert first.endswith("this: `var animation = require('/alloy/animation');` [1]")
    assert second.startswith("Now you are free to use the builtin animation library")
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_a_command_under_a_heading_is_quoted_with_the_heading(corpus_dir, settings):
    page = hits_from_records(
        [doc_record(corpus_dir, "appc-daemon", "docs/Core Services/status.md")]
    )
    result = fuse("How can I query the status of the daemon?", page, None, settings)
    assert "Examples: `$ appcd exec /appcd/status/server/loadavg` [1]" in result["answer"]
    assert verify_citations(result["answer"], result["citations"], page) == []
    jira = hits_from_records([jira_record(corpus_dir, KEY)])  # an issue's headings are not
    assert all(not c.code or c.text.endswith(":") for c in candidates(jira))


def test_a_paragraph_right_above_a_code_block_carries_it(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "packages/appcd-gulp/README.md")
    facts = hits_from_records([page])
    question = "Which appcd-gulp task rebuilds and reruns the tests when test files change?"
    result = fuse(question, facts, None, settings)
    assert (
        "Watch source and test files for changes to trigger a re-build and run tests: "
        "`$ gulp watch-test` [" in result["answer"]
    )
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_code_under_a_heading_stays_quotable_and_list_text_is_not_code(corpus_dir):
    extra = (
        "\n\n## Install the daemon\n\nExample.\n\n```\nnpm install -g appcd\n```\n"
        "\n1. Install the command line tools first.\n\n"
        "    Then sign in with your platform account to continue.\n"
    )
    page = doc_record(corpus_dir, "appc-daemon", "docs/Core Services/plugin.md", extra)
    found = candidates(hits_from_records([page]))
    assert any(c.code == "npm install -g appcd" for c in found)  # "Example." is too short
    tools = next(c for c in found if c.text.startswith("Install the command line tools"))
    assert tools.code == ""  # an item's indented paragraph is not a code block


def test_a_long_example_is_quoted_by_its_parts(corpus_dir, settings):
    readme = doc_record(corpus_dir, "appc-daemon", "packages/appcd-config/README.md")
    comment = "v8mem: 'auto', // 'auto' sets the Node's v8 max memory limit to 50% total memory"
    example = "\n".join(["spawn({", *["  x: 1,"] * 8, comment, "});"])
    extra = f"\n\n## Spawning\n\n```js\n{example}\n```\n"
    spawning = doc_record(corpus_dir, "appc-daemon", "packages/appcd-path/README.md", extra)
    found = candidates(hits_from_records([readme, spawning]))
    codes = [c.code for c in found]
    assert "conf.watch(obj => {\n\tconsole.log('config changed!', obj);\n});" in codes
    assert comment in codes  # a commented line of an example too long to quote whole
    parts = [c for c in found if c.fact == 0]
    assert not any(c.code.startswith("import ") for c in parts)  # an import answers nothing
    assert len(select(parts, len(parts))) == len(parts)  # one heading, different code
    assert _imports("const { a, b } = require('x');\nimport y from 'y';")
    assert _code_parts("f({\n" + "  x,\n" * 9 + "\n  y\n});") == []  # no piece of a statement

    result = fuse(
        "How do I get a callback when a setting changes on an appcd-config object?",
        hits_from_records([readme]),
        None,
        settings,
    )
    assert "conf.watch(obj =>" in result["answer"]
    assert "License" not in result["answer"]  # the legal section is boilerplate here ...
    asked = "Which license is appcd-config under?"
    licence = fuse(asked, hits_from_records([readme]), None, settings)
    assert "Apache Public License" in licence["answer"]  # ... and the answer here
    assert (
        verify_citations(result["answer"], result["citations"], hits_from_records([readme])) == []
    )


def test_a_paragraph_over_code_renders_with_one_colon_or_its_question_mark():
    def render(text: str) -> str:
        return Candidate(0, 0, text, (), code="gulp watch").render("[1]")

    assert render("Then run the watcher...") == "Then run the watcher: `gulp watch` [1]"
    assert render("Rebuild on change?") == "Rebuild on change? `gulp watch` [1]"


def test_a_table_of_contents_entry_is_not_quoted(corpus_dir):
    page = doc_record(corpus_dir, "appc-daemon", "docs/Core Services/plugin.md")
    texts = [c.text for c in candidates(hits_from_records([page]))]
    assert "Simply call the plugin to start it." in texts
    assert not any("(#appcdpluginstop" in t for t in texts)  # " * [`/appcd/plugin/stop`](#...)"


def test_an_issue_answer_adds_the_sentence_that_explains_it(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-134")])
    symptom = "Studio warns that the bundled ti.physicalSizeCategory module is incompatible"
    result = fuse(symptom, facts, None, settings)  # a symptom, asking why without saying so
    # the discussion's conclusion, not the reporter's guess ("this may be because ...")
    assert (
        "Fix is no longer necessary due to the modules removal in Alloy 1.0.0" in result["answer"]
    )
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_the_explanation_comes_from_the_discussion_not_the_report(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-1622")])
    symptom = "A migration with the sql adapter breaks the build: db is undefined in sql.js"
    result = fuse(symptom, facts, None, settings)
    # the report's own "due to" restates the symptom; the comment says why
    assert "which with strict mode is an error [" in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_an_issue_answer_ends_with_its_short_last_comment(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-1")])
    result = fuse("Was the logger.js failure in the Titanium runtime fixed?", facts, None, settings)
    # how the thread ended, which the report above it never says
    assert result["answer"].endswith(
        "Last comment (Tony Lukasavage, 2012-07-23): We will use existing `Ti.API` calls [1]."
    )
    assert verify_citations(result["answer"], result["citations"], facts) == []
    short = [c.text for c in candidates(facts) if c.comment == 2]
    assert short == ["We will use existing `Ti.API` calls"]  # four words: a comment's is enough


def test_an_issue_answer_closes_with_the_verdict_of_its_last_long_comment(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "DAEMON-230")])
    question = "Could big plugin responses be streamed over IPC instead of JSON.stringify?"
    answer = fuse(question, facts, None, settings)["answer"]
    # a comment of five sentences: its first says how it ended, the next what the ask meets
    assert "Last comment (Chris Barber, 2018-02-14): As good as an idea this is" in answer
    assert "it is calling `process.send()`" in answer


def test_the_closing_comment_is_quoted_without_its_apology_and_thanks(corpus_dir, settings):
    chunks = hits_from_records([jira_record(corpus_dir, "DAEMON-161")])
    facts = [*chunks[:2], chunks[-1]]  # as retrieval gives them: the best, then the end
    question = "The Visual Studio path in the Windows system-info lost its spaces. Why?"
    answer = fuse(question, facts, None, settings)["answer"]
    assert (
        "Last comment (Kondal Kolipaka, 2017-11-22): Problem is not with the VS path but with"
        " the http://jsonviewer.stack.hu" in answer
    )
    assert "Sorry" not in answer and "Thanks" not in answer


def test_the_closing_comment_is_quoted_without_its_courtesies(corpus_dir, settings):
    chunks = hits_from_records([jira_record(corpus_dir, "ALOY-1225")])
    facts = [*chunks[:2], chunks[-1]]
    question = "social.js twitter authorize crashes with signal 11 on android, how was it resolved?"
    answer = fuse(question, facts, None, settings)["answer"]
    # "I'm glad the library working for you. I'll close this ticket." say nothing
    assert "Last comment (Tim Poulsen, 2015-01-15): ALOY-1063 adds cleaning of the" in answer
    assert "glad" not in answer and "close this ticket" not in answer


def test_a_records_sentences_are_quoted_in_reading_order(corpus_dir, settings):
    record = jira_record(corpus_dir, "ALOY-1015")
    chunks = hits_from_records([record])
    facts = [dict(f, score=0.9 - 0.01 * n) for n, f in enumerate(reversed(chunks))]
    answer = fuse(record.title, facts, None, settings)["answer"]
    quoted = [strip_markers(s).rstrip(".").strip() for s in sentences(answer)][1:]  # no lead
    quoted = [re.sub(r"^Last comment \([^)]*\): ", "", q) for q in quoted]
    at = [" ".join(record.text.split()).find(" ".join(q.split()[:6])) for q in quoted]
    assert len(at) > 2 and -1 not in at and at == sorted(at)  # the last chunk came first


def test_the_last_comment_is_quoted_only_when_the_records_last_chunk_is_a_fact(
    corpus_dir, settings
):
    chunks = hits_from_records([jira_record(corpus_dir, "ALOY-86")])
    assert len(chunks) > 2
    question = jira_record(corpus_dir, "ALOY-86").title
    assert "Last comment" not in fuse(question, chunks[:1], None, settings)["answer"]
    asked = "Will the existing Ti.API calls be used for logger.js logging?"
    answer = fuse(asked, hits_from_records([jira_record(corpus_dir, "ALOY-1")]), None, settings)
    assert "Last comment (Tony Lukasavage, 2012-07-23): We will use" in answer["answer"]


def test_a_last_comment_that_reports_a_test_run_is_not_the_outcome(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-1045")])
    question = "Was the SDK version in the HarnessTemplate tiapp.xml updated for 3.3.0.GA?"
    result = fuse(question, facts, None, settings)
    assert not result["refused"] and "Last comment" not in result["answer"]  # "... Closing."
    # the comment before the tester's report says how it was settled
    assert "Comment (Tim Poulsen, 2014-06-19): PR for 1_4_X branch merged" in result["answer"]


def test_of_sentences_with_the_question_words_the_one_meaning_what_it_asks_ranks_higher(
    corpus_dir, settings
):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-1626")])
    pool = candidates(facts)
    question = "Why is the ti.alloy plugin missing from a project cloned from GitHub?"
    closeness = Closeness(question, get_embedder(settings).closeness)

    def place(text: str, ranked: list) -> int:
        return next(i for i, (_, c) in enumerate(ranked) if c.text.startswith(text))

    cause, link = "As part of ALOY-1609 we ignored", "PR to revert the old change"
    words_only = rank(question, facts, pool)
    assert place(link, words_only) < place(cause, words_only)  # "GitHub" is in its URL
    with_meaning = rank(question, facts, pool, closeness=closeness)
    assert place(cause, with_meaning) < place(link, with_meaning)


def test_sentence_meaning_is_a_setting(settings):
    meaning = sentence_meaning(settings)  # on by default
    assert meaning is not None and meaning("start the daemon", []) == []
    off = settings.model_copy(
        update={"chat": settings.chat.model_copy(update={"sentence_meaning": False})}
    )
    assert sentence_meaning(off) is None


def test_a_failing_model_leaves_the_ranking_to_words(corpus_dir, caplog):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-1626")])
    pool = candidates(facts)
    question = "Why is the ti.alloy plugin missing from a project cloned from GitHub?"

    def broken(question: str, texts: list[str]) -> list[float]:
        raise EmbeddingError("model file is corrupt")

    ranked = rank(question, facts, pool, closeness=Closeness(question, broken))

    assert [c for _, c in ranked] == [c for _, c in rank(question, facts, pool)]
    assert "ranked by words only: model file is corrupt" in caplog.text


def test_code_block_edges_a_parser_must_get_right():
    text = "## Usage\n\n```\n```\n\nThen install:\n\n```sh\n# not a heading\nnpm i x\n```\n"
    text += "\nAnd now you can use the package in your own code.\n"
    facts = [{"chunk_id": "c", "doc_id": "docs:x.md", "source": "docs", "text": text}]

    found = candidates(facts)

    assert [(c.text, c.code) for c in found if c.code] == [
        ("Then install:", "# not a heading\nnpm i x")  # not the prose after an empty block
    ]
    assert {c.under for c in found} == {tuple(terms("Usage"))}  # the comment is no heading


@pytest.mark.parametrize(
    ("sentence", "kept"),
    [
        ("@Eric Wieber I looked at this, the limitation is square brackets.", "I looked at"),
        ("@Feon Sua Xin Miao, the fix is in 1.9.0.", "the fix is in 1.9.0."),
        ("@tlukasavage Please check.", "check."),
        ("No mention here.", "No mention here."),
    ],
)
def test_an_opening_mention_is_dropped_and_the_statement_kept(sentence: str, kept: str) -> None:
    assert without_address(sentence).startswith(kept)


def test_how_to_steps_keep_their_commands(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "docs/Getting Started.md")
    facts = hits_from_records([page])

    result = fuse("How do I start the server in debug mode?", facts, None, settings)

    assert "Start the server in debug mode: `appcd start --debug` [1]" in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []
    _every_sentence_cited(result["answer"])


def test_steps_skip_the_prose_between_the_best_sentence_and_the_list(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "docs/Development/appcd/Distribution.md")
    facts = hits_from_records([page])
    question = "What are the steps for publishing a new release of the daemon packages to npm?"
    meaning = sentence_meaning(settings)  # it makes the page's Lerna sentence the best one
    lines = fuse(question, facts, None, settings, meaning=meaning)["answer"].splitlines()
    assert lines[0].startswith("The Appc Daemon uses [Lerna](https://lernajs.io/) to orchestrate")
    assert lines[1].startswith("- Run `gulp coverage` to ensure all tests pass [")
    assert lines[-1].startswith("- Run `lerna publish --git-remote <YOUR_APPCELERATOR_REPO")


def test_a_named_record_nobody_indexed_is_refused(corpus_dir, commits, settings):
    facts = hits_from_records([jira_record(corpus_dir, KEY), *commits])
    result = fuse("What fixed ALOY-99999?", facts, None, settings)
    assert result["refused"] and "ALOY-99999" in result["answer"]
    assert result["citations"] == []


def test_unseen_terms_and_a_weak_match_are_off_topic(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, KEY)])
    weak = {"unknown": 1.0, "coverage": 0.1}
    off = [dict(f, features=weak, scores={"dense": 0.45}) for f in facts]
    question = "Does Kubernetes change how Alloy assigns globals in app.js?"
    result = fuse(question, off, None, settings)
    assert result["refused"] and '"kubernetes"' in result["answer"]
    close = [dict(f, features=weak, scores={"dense": 0.7}) for f in facts]
    assert not fuse(question, close, None, settings)["refused"]  # the meaning matches
    rare = [dict(f, features=dict(weak, rare_names=1.0)) for f in off]
    assert not fuse(question, rare, None, settings)["refused"]  # it holds a rare name asked
    package = [dict(f, features=dict(weak, package=1.0)) for f in off]
    assert not fuse(question, package, None, settings)["refused"]  # the package it names
    agreed = [dict(f, ranks={"dense": 1, "bm25": 1}) for f in off]
    assert not fuse(question, agreed, None, settings)["refused"]  # both searches found it
    one = [dict(f, ranks={"dense": 1, "bm25": 4}) for f in off]
    assert fuse(question, one, None, settings)["refused"]
    two = {"unknown": 2.0, "coverage": 0.4}  # covers enough for one unseen term, not two
    assert fuse(
        question, [dict(f, features=two, scores={"dense": 0.45}) for f in facts], None, settings
    )["refused"]
    assert not fuse(
        question, [dict(f, features=two, scores={"dense": 0.55}) for f in facts], None, settings
    )["refused"]


def test_a_weak_match_neither_search_found_is_a_stray(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, KEY)])
    weak = {"unknown": 0.0, "coverage": 0.2}  # every word indexed, few of them here
    stray = [
        dict(f, features=weak, scores={"dense": 0.4}, ranks={"dense": 31, "bm25": None})
        for f in facts
    ]
    question = "Does a face login change how Alloy assigns globals in app.js?"
    assert fuse(question, stray, None, settings)["refused"]
    found = [dict(f, ranks={"dense": 4, "bm25": None}) for f in stray]
    assert not fuse(question, found, None, settings)["refused"]  # meaning ranks it near the top
    close = [dict(f, scores={"dense": 0.6}) for f in stray]
    assert not fuse(question, close, None, settings)["refused"]
    covered = [dict(f, features=dict(weak, coverage=0.4)) for f in stray]
    assert not fuse(question, covered, None, settings)["refused"]
    package = [dict(f, features=dict(weak, package=1.0)) for f in stray]
    assert not fuse(question, package, None, settings)["refused"]
    unranked = [{k: v for k, v in f.items() if k != "ranks"} for f in stray]
    assert not fuse(question, unranked, None, settings)["refused"]  # not a hybrid hit


def test_a_page_the_question_names_by_its_file_name_is_on_topic(corpus_dir, settings):
    path = "packages/appcd-response/messages/en/4xx/409.5-PLUGIN_ALREADY_STOPPED.md"
    page = hits_from_records([doc_record(corpus_dir, "appc-daemon", path)])
    weak = [
        dict(f, features={"unknown": 2.0, "coverage": 0.1}, scores={"dense": 0.3}) for f in page
    ]
    question = "got a 409.5 back when halting the gizmo, meaning?"  # unseen words, weak match
    assert not fuse(question, weak, None, settings)["refused"]
    assert fuse(question.replace("409.5", "409.9"), weak, None, settings)["refused"]


def test_a_name_nobody_indexed_is_off_topic_unless_the_fact_covers_the_rest(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, KEY)])
    named = {"unknown": 1.0, "unknown_names": 1.0, "coverage": 0.35}
    close = [dict(f, features=named, scores={"dense": 0.7}) for f in facts]
    question = "Does Kubernetes change how Alloy assigns globals in app.js?"
    result = fuse(question, close, None, settings)
    assert result["refused"] and '"kubernetes"' in result["answer"]
    covered = [dict(f, features=dict(named, coverage=0.8)) for f in close]
    assert not fuse(question, covered, None, settings)["refused"]
    agreed = [dict(f, ranks={"dense": 1, "bm25": 1}) for f in close]
    assert fuse(question, agreed, None, settings)["refused"]  # an unseen name still counts


@pytest.mark.parametrize(
    "sentence",
    [
        "@Tim Poulsen Next time you see this could you check the generated code?",
        "Thanks for the quick fix!",
        "Hi all, any update on this?",
        "I was able to repro this on iOS 7.",
        "Verified fixed, closing.",
        "Sorry! for the confusion.",
        "Looks like this also needs to be integrated into the appc-cli. cc @amukherjee",
        "Can this be closed now @cbarber?",
        "I'm glad the library working for you.",  # ALOY-1225's last comment opens so
        "I'll close this ticket.",
        "Just wanted to bump this issue and see if there has been any progress on it.",
        "Sounds good to me.",
        "Titanium SDK 3.1.2.v2013 Alloy 1.2.0-alpha Studio 3.1.2.2013 CLI 3.1.2 Node 0.8.22",
    ],
)
def test_chatter(sentence: str) -> None:
    assert is_chatter(sentence, "jira")


def test_facts_are_not_chatter() -> None:
    assert not is_chatter("Fixed in NavGroup and SplitWindow.", "jira")
    assert not is_chatter("The window will close this way when the app exits.", "jira")
    fact = "The sql adapter opens the database on every sync call in Alloy 1.2.0."
    assert not is_chatter(fact, "jira")
    # appc-daemon ddca3bc "build: fix user agent check": its reason, not an environment
    reason = (
        "Yarn includes npm, probably for compat reasons, yarn UA example -> yarn/1.22.5 npm/? "
        "node/v14.13.1 darwin x64 npm UA example -> npm/6.14.8 node/v14.13.1 darwin x64"
    )
    assert is_chatter(reason, "jira") and not is_chatter(reason, "git")
    assert is_chatter("@cb1kenobi thanks for the review", "git")  # people are people anywhere
    assert not is_chatter("@axway/amplify-sdk@1.0.0 published!", "jira")  # a scoped package
    assert not reports_a_test("Fixed in 3.1.0. I tested with node 14 and it works.")
    assert reports_a_test("Verified as fixed.\n\nTiSDK 3.3.0.v20140513115438\n\nClosing.")
    decided = "After discussing with @Ewan Harris, we have decided to publish plain semver."
    assert not is_chatter(decided, "jira")  # it names someone, it does not talk to them


def test_a_how_to_answered_by_prose_is_not_laid_out_as_steps(corpus_dir, settings):
    page = doc_record(
        corpus_dir, "appc-daemon", "docs/Development/appcd/Architecture/Filesystem Watcher.md"
    )
    facts = hits_from_records([page])

    result = fuse("How do I stop the filesystem watcher?", facts, None, settings)

    assert not result["refused"]
    assert "\n" not in result["answer"]  # one paragraph of what the page says, no step lines
    assert verify_citations(result["answer"], result["citations"], facts) == []
    _every_sentence_cited(result["answer"])


def test_badges_are_not_sentences(corpus_dir):
    readme = "test/apps/testing/ALOY-1262/lib/validator.js/README.md"
    facts = hits_from_records([doc_record(corpus_dir, "alloy", readme)])

    texts = [c.text for c in candidates(facts)]

    assert not any("Build Status" in text for text in texts)  # two images in links
    assert any(text.startswith("Powerful objects and strings validation") for text in texts)


def test_an_option_is_quoted_with_its_name(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "docs/CLI/restart.md")
    facts = hits_from_records([page])

    result = fuse("How do I restart the daemon in debug mode?", facts, None, settings)

    assert "`--debug`: Starts the Appc Daemon in debug mode" in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []
    _every_sentence_cited(result["answer"])


@pytest.mark.parametrize(
    ("root", "path", "question", "expected"),
    [
        (
            "alloy",
            "tools/README.md",
            "What is tools/checkmap.js for?",
            "checkmap.js: Generates and outputs a source code map file",
        ),
        (
            "appc-daemon",
            "docs/Development/appcd/Architecture/Plugin System.md",
            "What does appcd.inactivityTimeout do in a plugin's package.json?",
            "`appcd.inactivityTimeout`: The number of milliseconds to wait",
        ),
    ],
)
def test_a_section_headed_by_a_name_is_quoted_with_it(
    corpus_dir, settings, root, path, question, expected
):
    facts = hits_from_records([doc_record(corpus_dir, root, path)])

    result = fuse(question, facts, None, settings)

    assert expected in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []
    _every_sentence_cited(result["answer"])


def test_a_page_named_by_its_file_name_answers(corpus_dir, settings):
    folder = "packages/appcd-response/messages/en/4xx"
    pages = ["409.4-PLUGIN_ALREADY_STARTED.md", "409.5-PLUGIN_ALREADY_STOPPED.md"]
    facts = hits_from_records(
        [doc_record(corpus_dir, "appc-daemon", f"{folder}/{p}") for p in pages]
    )

    result = fuse("What does response code 409.5 mean?", facts, None, settings)

    # neither page says "409.5": its file name does
    assert result["answer"].startswith(
        "Plugin already stopped: A plugin can only be stopped if it is started [1]."
    )
    assert [c["id"].rsplit("/", 1)[-1] for c in result["citations"]] == [pages[1]]


def test_a_version_section_answers_what_changed_in_it(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "packages/appcd-fswatcher/CHANGELOG.md")
    facts = hits_from_records([page])

    result = fuse("What changed in appcd-fswatcher 2.0.1?", facts, None, settings)

    assert terms("# v2.0.1 (Dec 1, 2020)")[0] == "2.0.1"  # as the question writes it
    answer = result["answer"]
    # the version and its date lead its entries once: "v2.0.1 (...): fix: ... [1]. fix: ..."
    assert answer.startswith("v2.0.1 (Dec 1, 2020): fix: Fixed bug ")
    assert answer.count("v2.0.1") == 1
    assert verify_citations(answer, result["citations"], facts) == []


def test_a_version_labels_only_its_own_entries() -> None:
    text = (
        "# Changes\n\n**1.0.1**\n\n- Fixed the distribution build for everyone.\n\n"
        "## Pre-requisites\n\nInstall Node.js before you build it.\n\n"
        "# v2.0.0 (Jan 5, 2021)\n\n```\n# 1.2.3 is no version mark here\n```\n\n"
        "* Dropped support for the old watcher API.\n\n# License\n\nThe MIT license applies here."
    )
    fact = {"chunk_id": "docs:x#0", "doc_id": "docs:x", "source": "docs", "text": text}

    labels = {c.text: c.label for c in candidates([fact])}

    assert labels["Fixed the distribution build for everyone."] == "1.0.1"
    assert labels["Install Node.js before you build it."] == ""  # a topic heading, no version
    assert labels["Dropped support for the old watcher API."] == "v2.0.0 (Jan 5, 2021)"
    assert labels["The MIT license applies here."] == ""  # a heading of the version's level


def test_a_changelog_entry_is_quoted_with_its_version(corpus_dir, settings):
    facts = hits_from_records([doc_record(corpus_dir, "alloy", "CHANGELOG.md")])

    result = fuse(
        "When did widget sourcemaps stop being created if disabled?", facts, None, settings
    )

    # "## [1.16.2](https://...) (2021-06-15)" over "### Bug Fixes" over the entry: "when?"
    assert "1.16.2 (2021-06-15): **compile:** don't create widget sourcemaps" in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_each_usage_example_can_be_quoted(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "packages/appcd-path/README.md")
    facts = hits_from_records([page])

    result = fuse("How do I resolve a symlink even if it is broken?", facts, None, settings)

    # the second of two code blocks under "Usage", which only its comment explains
    assert "// resolves symlinks to real path, even if symlink is broken" in result["answer"]
    assert "expandPath" not in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_inline_code_after_a_colon_is_quoted_with_its_sentence(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "ALOY-1636")])
    question = "Is there a workaround when a custom NavigationWindow tag breaks the Android build?"

    result = fuse(question, facts, None, settings)

    answer = result["answer"]
    assert 'so: `<NavigationWindowXP id="nav" module="xp.ui">` [1]' in answer
    assert answer.count("[ERROR] Alloy compiler failed") <= 1  # not again as a sentence
    assert verify_citations(answer, result["citations"], facts) == []


def test_a_quote_wrapped_over_lines_is_one_sentence(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "docs/Development/appcd/README.md")
    facts = hits_from_records([page])

    texts = [c.text for c in candidates(facts)]
    result = fuse(
        "What does the NIM extension do when the daemon runs in debug mode?", facts, None, settings
    )

    whole = (
        "The NIM extension will detect when the Appc Daemon has been started in debug mode"
        " and automatically connect to it"
    )
    assert f"{whole}." in texts  # "> " of the wrapped line dropped, the ">" line a break
    assert sentences("> Starts a server on port 1732.\n> Plugins load from disk.\n") == [
        "Starts a server on port 1732.",
        "Plugins load from disk.",
    ]
    assert sentences("> Run this:\n> ```\n> npm i -g appcd\n> ```\n> Then start it.\n") == [
        "Run this:",
        "Then start it.",
    ]
    assert whole in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_a_release_note_is_quoted_with_its_package_and_version(corpus_dir, settings):
    page = doc_record(corpus_dir, "appc-daemon", "docs/Release Notes/Appc Daemon 4.0.4.md")
    facts = hits_from_records([page])

    result = fuse(
        "Which version stopped throwing an error when telemetry is disabled?", facts, None, settings
    )

    # "### appcd-telemetry" over "* **v5.0.6** - 4/26/2021" over the entry
    assert result["answer"].startswith(
        "appcd-telemetry v5.0.6 (4/26/2021): fix: Don't throw error if telemetry"
    )
    assert "**v5.0.6**" not in result["answer"]  # the version line is a mark, not a sentence
    entries = "## changelog\n\n- **2.0.0** - Dropped support for Node 8.\n"  # no date: an entry
    assert [c.text for c in candidates(hits_from_records([replace(page, text=entries)]))] == [
        "**2.0.0** - Dropped support for Node 8."
    ]
    assert verify_citations(result["answer"], result["citations"], facts) == []


def test_a_how_to_answered_by_a_table_quotes_its_matching_rows(corpus_dir, settings):
    cli = hits_from_records([doc_record(corpus_dir, "appc-daemon", "docs/CLI/README.md")])

    result = fuse(
        "How do I view the daemon's debug log from the command line?", cli, None, settings
    )

    assert "| Streams Appc Daemon debug log output [" in result["answer"]
    assert "`stop`" not in result["answer"]  # the next rows of the table are no steps
    dump = hits_from_records([doc_record(corpus_dir, "appc-daemon", "docs/CLI/dump.md")])

    result = fuse("How do I dump the daemon's state for a bug report?", dump, None, settings)

    assert "Usage: `appcd dump [<file>] [--view]` [1]" in result["answer"]
    assert "| Success" not in result["answer"]  # the exit codes table after the usage


def test_a_sentence_introducing_a_list_in_an_issue_is_quoted_with_the_list(corpus_dir, settings):
    facts = hits_from_records([jira_record(corpus_dir, "DAEMON-8")])

    result = fuse("What does DAEMON-8 need to do?", facts, None, settings)

    # "This plugin uses the following libraries:" then a list, in the issue's description
    assert (
        "This plugin uses the following libraries [1]:\n- androidlib (OS X, Linux, Windows)"
        in (result["answer"])
    )
    assert "- windowslib (Windows) [1]." in result["answer"]
    assert verify_citations(result["answer"], result["citations"], facts) == []
    _every_sentence_cited(result["answer"])
