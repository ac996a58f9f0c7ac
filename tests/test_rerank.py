"""Question cues and record features of the hybrid reranker (tools.index.rerank)."""

from __future__ import annotations

import dataclasses

import pytest

from tools.index.cues import (
    asks_about_change,
    asks_about_release,
    asks_for_a_commit,
    asks_two_things,
    asks_what_else,
    asks_why,
    literal_names,
    month_words,
    placed_as_names,
    question_period,
    written_as_names,
)
from tools.index.rerank import (
    COVERAGE_WEIGHT,
    TITLE_WEIGHT,
    _share,
    question_cues,
    record_features,
    rerank,
)


class Vocabulary:
    """Every term in 100 of ``chunks`` chunks but ``kubernetes`` and ``transactions``, in
    none; ``transaction`` is in some; every text as written but ``--since``."""

    def __init__(self, chunks: int = 10_000) -> None:
        self.chunks = chunks

    def document_frequency(self, terms):
        return {t: 0 if t in ("kubernetes", "transactions") else 100 for t in terms}, self.chunks

    def holds_a_form_of(self, token: str) -> bool:
        return token == "transactions"

    def holds_text(self, text: str) -> bool:
        return text != "--since"


vocabulary = Vocabulary()


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("the February 2017 fix by Chris", ("2017-02-01", "2017-03-01")),
        ("what changed in Dec. 2019?", ("2019-12-01", "2020-01-01")),
        ("commits of 2016-11 on the CLI", ("2016-11-01", "2016-12-01")),
        ("what was released in 2017", ("2017-01-01", "2018-01-01")),
        ("how do I start the daemon", None),
        ("port 20000 is taken", None),
        ("what fixed TIMOB-2015?", None),  # an issue key, not a year
    ],
)
def test_question_period(question: str, period: tuple[str, str] | None) -> None:
    assert question_period(question) == period


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("does appcd logcat take a --since option?", {"--since"}),
        ("is there a server.tls or server.certfile setting?", {"server.tls", "server.certfile"}),
        ("the Node.js version in package.json, e.g. 10", {"package.json"}),
        ("it crashes on launch.Any idea why? core.enableFoo is set", {"core.enablefoo"}),
        ("who touched packages/appcd/src/common.js and -v?", set()),  # a path, a short flag
        ("what changed in v1.2.3?", set()),
    ],
)
def test_literal_names(question: str, names: set[str]) -> None:
    assert literal_names(question) == names


@pytest.mark.parametrize(
    ("question", "about"),
    [
        ("the February 2017 fix by Chris for the watcher", True),
        ("What fixed DAEMON-187?", True),
        ("What was the fix for the watcher leak?", True),
        ("What was the April 2021 fix for DAEMON-342 about?", True),
        ("Who merged the Node.js 11 support fix, and when?", True),
        ("Why did Ewan change the user agent check in the gulpfile?", True),
        ("Is there a change to the config format planned?", False),
        ("Does the working directory change to the project folder?", False),
        ("What is the recommended fix for the EADDRINUSE error?", False),
        ("Why did my app's layout change after upgrading to Alloy 2.0?", False),
        ("Why did the default port change in appcd 2.0?", False),
        ("Jan touched common.js in October 2019; what was that fix about?", True),
        ("Which commit made widgets stop requiring a views folder?", True),
        ("When was sourceMapper.js created?", True),
        ("Who switched Alloy to the development build of Backbone?", True),
        ("Who got rid of the deprecation warning?", True),
        ("Which source files changed along with the xmldom bump?", True),
        ("What files did the fix touch?", True),
        ("Which parser was changed so latitudes are numbers?", True),
        ("Which files were modified for the watcher?", True),
        ("Which task reruns the tests whenever source files change?", False),
        ("Which constants and files do I need to edit to ship a newer Backbone?", False),
        ("Which methods were added with dynamic styling?", False),  # release notes answer
        ("What is the changelog format?", False),
        ("What is the fixed default port?", False),
        ("Which option was changed in 2.0?", True),
        ("What did Chris Barber change in November 2017 for the banner?", True),
        ("What did m1ga's commit fix?", True),
        ("What did the docs say about the fix?", False),
        ("What did I need to add to tiapp.xml to enable the module?", False),
        ("What did you have to change to get Alloy 2 working?", False),
        ("When controllers/index.js is missing the app still builds", False),
        ("How do I stop the daemon?", False),
    ],
)
def test_questions_about_a_change(question: str, about: bool) -> None:
    assert asks_about_change(question) is about


@pytest.mark.parametrize(
    ("question", "about"),
    [
        ("Which Alloy version has the fix?", True),
        ("In which appcd-config version did the Root namespace get renamed?", True),
        ("how do I start version 2.0.0 of the system-info plugin?", True),
        ("which release added it?", True),
        ("What is the latest version of appcd?", True),
        ("What's the minimum Node version?", True),
        ("Which was the first version to support plugins?", True),
        ("With appcd-config-service 3.x, what happens if I delete a missing key?", True),
        ("What changed in appcd-config-service 3.x.", True),
        ("Why does `appcd exec /android/1.x/info` hang?", False),  # a path's version
        ("How are the API docs versioned?", False),
        ("Which commit started sending the CLI version in telemetry payloads?", False),
        ("what format does the version field need?", False),
    ],
)
def test_questions_about_a_release(question: str, about: bool) -> None:
    assert asks_about_release(question) == about


@pytest.mark.parametrize(
    ("question", "two"),
    [
        ("Why was it reworked onto N-API, and how do the tests launch the app?", True),
        ("Is that fixed? What ideas came up?", True),
        ("What do I need installed, and how do I get appcd on my PATH?", True),
        ("Why does the adapter end transactions with COMMIT?", False),
        ("How do I start and stop the daemon?", False),
    ],
)
def test_questions_that_ask_two_things(question: str, two: bool) -> None:
    assert asks_two_things(question) == two


@pytest.mark.parametrize(
    ("question", "what_else"),
    [
        ("Chris's Feb 2017 commit for appcd-nodejs: what else went in with it?", True),
        ("Which commit turned telemetry off, and what else did it touch?", True),
        ("What other changes rode along in the same commit?", True),
        ("When was xmldom bumped, and which files changed along with it?", True),
        ("What else should I configure before starting the daemon?", True),
        ("Which commit turned telemetry off by default?", False),
        ("Why did Ewan change the user agent check?", False),  # why: not what else
        ("What did Ewan add to appcd-fs in October 2018?", False),
    ],
)
def test_questions_that_ask_what_else_a_change_brought(question: str, what_else: bool) -> None:
    assert asks_what_else(question) == what_else


@pytest.mark.parametrize(
    ("question", "why", "for_a_commit"),
    [
        ("Why did Ewan change the user agent check?", True, False),
        ("What was the reason for dropping Node 8?", True, False),
        ("Which commit switched plugins to worker threads (DAEMON-320)?", False, True),
        ("what fixed ALOY-1305?", False, True),
        ("Which commit made the CLI print the reason a plugin failed?", False, True),
        ("Which change does ALOY-1200 ask for?", False, False),
        ("What does the commit for ALOY-12 say?", False, False),
        ("Which commit is the first of the repository?", False, False),
    ],
)
def test_questions_that_ask_why_or_for_a_commit(question: str, why: bool, for_a_commit: bool):
    assert (asks_why(question), asks_for_a_commit(question)) == (why, for_a_commit)


def test_the_month_a_question_dates_by_is_no_unseen_word() -> None:
    assert month_words("a fix in Sept 2019, and one in March, 2020") == {"sept", "march"}
    assert question_period("Jan pushed a fix in Sept 2019") == ("2019-09-01", "2019-10-01")
    assert month_words("in may we shipped it") == set()  # no year: no date
    assert month_words("the JUnit 2020 reports and Decoder 2019") == set()  # not months

    class NoSept(Vocabulary):
        def document_frequency(self, terms):
            return {t: 0 if t in ("sept", "kubernetes") else 100 for t in terms}, self.chunks

    cues = question_cues("What did Jan fix for Kubernetes in Sept 2019?", NoSept())
    assert cues.unknown == {"kubernetes"}  # not "sept", which no chunk holds either
    assert cues.unknown_names == {"kubernetes"}


def test_cues_find_commit_questions() -> None:
    cues = question_cues(
        "Who changed deepExtend() and Alloy.CFG in styler.js for ALOY-12?", vocabulary
    )
    assert cues.about_commits
    assert not question_cues("How do I stop the daemon?", vocabulary).about_commits


COMMIT = {
    "doc_id": "git:alloy@" + "a" * 40,
    "source": "git",
    "title": "Slightly improves deepExtend() reliability.",
    "text": "Slightly improves deepExtend() reliability.\n\nChanged files:\n- Alloy/lib/alloy.js",
    "metadata": {"author": "Xavier Lacot", "created": "2015-05-29T10:00:00+02:00", "merge": False},
}


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Can I send errors to Sentry from a controller?", {"sentry"}),
        ("Does it build for visionOS?", {"visionos"}),
        ("What does ALLOY_CACHE_DIR change?", {"alloy_cache_dir"}),
        ("How is k8s set up?", {"k8s"}),
        ("Sentry errors: where do they go?", set()),  # capital of a sentence's first word
        ("Why do spacers and stale files break the Sentry hook?", {"sentry"}),
        ("Why does it break? Sentry says nothing.", set()),
        ("the commits that shrank the splash screen", set()),
        ("How do I make compile skip what .alloyignore lists?", {"alloyignore"}),
        ("Why does it break.alloyignore", set()),  # a full stop, not a dotfile
    ],
)
def test_names_are_words_written_like_names(question: str, names: set[str]) -> None:
    words = {"sentry", "visionos", "alloy_cache_dir", "k8s", "spacers", "stale", "shrank"}
    words |= {"alloyignore"}
    assert written_as_names(question, words) == names


def test_rare_names_are_names_few_chunks_hold() -> None:
    question = "My TextArea still swallows Return with suppressReturn set in the view"
    # every known term is in 100 chunks: 1% of 10,000 is rare, 10% of 1,000 is not
    names = {"textarea", "return", "suppressreturn"}  # "Return" is written as a name too
    assert question_cues(question, vocabulary).rare_names == names
    assert question_cues(question, Vocabulary(chunks=1000)).rare_names == frozenset()


def test_record_features_of_a_commit() -> None:
    question = "Who made deepExtend more reliable in May 2015? Was it Xavier?"
    cues = question_cues(question, vocabulary)
    features = record_features(cues, COMMIT, linked=False, named=False)
    assert features["date"] == features["commit"] == 1.0
    assert features["author"] == 0.5  # one of Xavier Lacot's two names
    full = question_cues("Was it Xavier Lacot?", vocabulary)
    assert record_features(full, COMMIT, linked=False, named=False)["author"] == 1.0
    issue = {**COMMIT, "doc_id": "jira:ALOY-1", "source": "jira"}  # reported by Xavier Lacot
    assert record_features(full, issue, linked=False, named=False)["author"] == 0.0
    assert features["merge"] == 0.0
    assert (
        features["coverage"] == 0.5
    )  # deepextend, may, 2015, xavier; not who, made, more, reliable
    cues = question_cues("How do I configure Kubernetes for deepExtend?", vocabulary)
    assert cues.unknown == {"kubernetes"}
    assert cues.unknown_names == {"kubernetes"}
    placed = question_cues("Can plugins run under kubernetes?", vocabulary)
    assert placed.unknown == placed.unknown_names == {"kubernetes"}  # where a tool goes
    assert placed_as_names("in summer 2020, to dodge sudo", ["summer", "dodge"]) == set()
    flag = question_cues("Does appcd logcat take a --since or a --lines option?", vocabulary)
    assert flag.unknown == flag.unknown_names == {"--since"}  # "since" is a stopword
    inflected = question_cues("Why does the adapter end transactions with COMMIT?", vocabulary)
    assert inflected.unknown == frozenset()  # "transaction" is indexed
    small = question_cues("How do I configure Kubernetes?", Vocabulary(chunks=900))
    assert small.unknown == frozenset()  # in a small index a missing word means little
    other = record_features(
        question_cues("what fixed it in 2014?", vocabulary), COMMIT, False, False
    )
    assert other["date"] == other["author"] == 0.0


@pytest.mark.parametrize(
    ("path", "question", "package"),
    [
        ("packages/appcd-response/README.md", "How do I make an error type in appcd-response?", 1),
        ("packages/appcd-response/README.md", "How do I make an appcd error response?", 0),
        ("packages/appcd-client/CHANGELOG.md", "Since which appcd-client version?", 1),
        ("packages/appcd-client/CHANGELOG.md", "What changed in appcd-client 1.1.0?", 1),
        ("packages/appcd-client/CHANGELOG.md", "Why does appcd-client time out?", 0),  # the issue
        ("docs/CLI/status.md", "Which cli command shows the status?", 0),  # a topic folder
        ("packages/appcd-fswatch-manager/README.md", "How do I use the fswatch manager?", 1),
        ("packages/appcd-fswatch-manager/README.md", "Does the manager fswatch?", 0),
        ("packages/appcd-http/README.md", "Can a plain HTTP client call it?", 0),  # one word
    ],
)
def test_the_package_feature(path: str, question: str, package: int) -> None:
    page = {
        "doc_id": f"docs:{path}",
        "source": "docs",
        "title": path.split("/")[-2],
        "text": "# Title\n\nSome text.",
        "metadata": {"path": path},
    }
    features = record_features(question_cues(question, vocabulary), page, False, False)
    assert features["package"] == package


@pytest.mark.parametrize(
    ("doc_id", "question", "versioned"),
    [
        ("docs:packages/appcd-util/CHANGELOG.md", "redact() changed, in which version?", 1),
        ("docs:docs/Release Notes/Appc Daemon 1.1.3.md", "Which daemon release dropped it?", 1),
        ("jira:DAEMON-306", "which ioslib versions fixed that?", 1),  # its fix versions
        ("docs:CHANGELOG.md", "In which release did Android get collapseToolbar?", 1),
        ("docs:packages/appcd-util/CHANGELOG.md", "Which version of Node.js do I need?", 0),
        ("docs:packages/appcd-util/README.md", "redact() changed, in which version?", 0),
        ("docs:packages/appcd-util/CHANGELOG.md", "How do I update to a newer release?", 0),
        ("docs:packages/appcd-util/CHANGELOG.md", "Which commit changed it, in which version?", 0),
    ],
)
def test_the_versioned_feature(doc_id: str, question: str, versioned: int) -> None:
    record = {
        "doc_id": doc_id,
        "source": doc_id.split(":")[0],
        "title": "Title",
        "text": "# Title\n\nSome text.",
        "metadata": {"fix_versions": ["Appc Daemon 3.2.0"]} if doc_id.startswith("jira") else {},
    }
    features = record_features(question_cues(question, vocabulary), record, False, False)
    assert features["versioned"] == versioned


def test_rerank_puts_named_records_first_and_cues_above_small_rank_gaps() -> None:
    issue = {
        "doc_id": "jira:ALOY-1",
        "source": "jira",
        "title": "deepExtend is broken",
        "text": "The deepExtend helper drops nested keys.",
        "metadata": {"created": "2014-01-02T00:00:00+00:00"},
    }
    rows = {COMMIT["doc_id"]: COMMIT, issue["doc_id"]: issue}
    fused = {issue["doc_id"]: 2 / 61, COMMIT["doc_id"]: 2 / 63}
    cues = question_cues("the May 2015 deepExtend change by Xavier Lacot", vocabulary)

    order = [doc for doc, _, _ in rerank(cues, fused, rows, [], set())]
    assert order == [COMMIT["doc_id"], issue["doc_id"]]
    named = [doc for doc, _, _ in rerank(cues, fused, rows, ["jira:ALOY-1"], set())]
    assert named[0] == "jira:ALOY-1"


def test_a_commit_citing_the_issue_a_question_names_is_reranked_whatever_its_words() -> None:
    issue = {"doc_id": "jira:ALOY-1", "source": "jira", "title": "Broken", "text": "x"}
    issue["metadata"] = {}
    rows = {COMMIT["doc_id"]: COMMIT, issue["doc_id"]: issue}
    fused = {issue["doc_id"]: 2 / 61}  # neither list holds the commit
    cues = question_cues("Which commit fixed ALOY-1?", vocabulary)

    order = rerank(cues, fused, rows, ["jira:ALOY-1"], {COMMIT["doc_id"]})

    assert [doc for doc, _, _ in order] == [issue["doc_id"], COMMIT["doc_id"]]  # its fix next
    unlinked = rerank(cues, fused, rows, ["jira:ALOY-1"], set())
    assert [doc for doc, _, _ in unlinked] == [issue["doc_id"]]  # only what the lists hold


def _commit(sha: str, message: str, author: str, created: str, paths: list[str]) -> dict:
    files = "\n".join(f"- {path}" for path in paths)
    return {
        "doc_id": f"git:alloy@{sha}",
        "source": "git",
        "title": message,
        "text": f"{message}\n\nChanged files:\n{files}",
        "metadata": {
            "author": author,
            "created": created,
            "merge": False,
            "files": [{"path": path, "additions": 1, "deletions": 1} for path in paths],
        },
    }


def test_a_commit_that_only_bumps_the_version_is_not_the_answer_unless_asked() -> None:
    # two real Alloy commits of February 2017 (tidev/alloy 7b939dd and 392ef3e)
    bump = _commit(
        "7b939dd", "bump version 1.9.8", "Feon Sua", "2017-02-17T08:58:42+08:00", ["package.json"]
    )
    change = _commit(
        "392ef3e",
        "Add optimizingExeptions option to config.json",
        "Jong Eun Lee",
        "2017-02-24T09:11:29+09:00",
        ["Alloy/commands/compile/index.js"],
    )
    rows = {bump["doc_id"]: bump, change["doc_id"]: change}
    fused = {bump["doc_id"]: 2 / 61, change["doc_id"]: 1 / 61 + 1 / 100}  # the bump ranks 1st
    who = question_cues(
        "Who added a config.json option to skip files, in February 2017?", vocabulary
    )
    assert record_features(who, bump, False, False)["release"] == 1.0
    assert record_features(who, change, False, False)["release"] == 0.0
    assert rerank(who, fused, rows, [], set())[0][0] == change["doc_id"]
    # a real Daemon commit that changes package.json alone but is no release
    dependency = _commit(
        "12a7ce9",
        "Set cli-kit to 0.0.3 in the appcd-core",
        "Chris Barber",
        "2017-05-11T00:39:45-05:00",
        ["packages/appcd-core/package.json"],
    )
    assert record_features(who, dependency, False, False)["release"] == 0.0
    odd = {**bump, "metadata": {**bump["metadata"], "files": [{"additions": 1}, "x"]}}
    assert record_features(who, odd, False, False)["release"] == 0.0  # no paths: no release
    for asked, penalty in [
        ("Which version was released in February 2017?", 0),
        ("What changed in v1.9.8?", 0),  # the version it bumps to
        ("What changed in 1.9.9?", 1),
        ("Who changed package.json in February 2017?", 0),  # the file it changed, named
        ("Who changed ./package.json in February 2017?", 0),  # named by a path
    ]:
        cues = question_cues(asked, vocabulary)
        assert record_features(cues, bump, False, False)["release"] == penalty, asked


def test_words_only_the_changed_paths_hold_do_not_rank_a_commit() -> None:
    # two real Daemon commits (tidev/appc-daemon c782a0c and dc5f93a)
    spec = _commit(
        "c782a0c",
        "Update telemetry to use the v4 event spec",
        "Isaac Whitfield",
        "2019-05-07T00:00:00+00:00",
        ["packages/appcd-core/conf/default.js", "packages/appcd-telemetry/src/telemetry.js"],
    )
    off = _commit(
        "dc5f93a",
        "chore(appcd-core): Disabled telemetry by default.",
        "Chris Barber",
        "2021-02-26T00:00:00+00:00",
        ["packages/appcd-core/CHANGELOG.md", "packages/appcd-core/conf/default.json"],
    )
    cues = question_cues("Which commit turned telemetry off by default in appcd-core?", vocabulary)
    features = {c["doc_id"]: record_features(cues, c, False, False) for c in (spec, off)}
    assert features[spec["doc_id"]]["coverage"] == features[off["doc_id"]]["coverage"]
    assert features[spec["doc_id"]]["paths_only"] > 0 == features[off["doc_id"]]["paths_only"]
    rows = {spec["doc_id"]: spec, off["doc_id"]: off}
    fused = {spec["doc_id"]: 2 / 61, off["doc_id"]: 2 / 62}
    scores = {doc: score for doc, score, _ in rerank(cues, fused, rows, [], set())}
    boosts = {doc: scores[doc] - fused[doc] for doc in scores}
    title = TITLE_WEIGHT * (features[off["doc_id"]]["title"] - features[spec["doc_id"]]["title"])
    paths = COVERAGE_WEIGHT * features[spec["doc_id"]]["paths_only"]  # taken off the spec
    assert boosts[off["doc_id"]] - boosts[spec["doc_id"]] == pytest.approx(title + paths)
    named = question_cues("Which commit changed conf/default.js in appcd-core?", vocabulary)
    assert record_features(named, spec, False, False)["paths_only"] == 0  # the file it names


def test_shares_do_not_depend_on_the_order_of_the_terms() -> None:
    # a set's order changes from run to run; 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1 in floats
    cues = question_cues("deepExtend", vocabulary)
    cues = dataclasses.replace(cues, weights={"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4})
    assert _share(cues, ["a", "b", "c"]) == _share(cues, ["c", "b", "a"])


def test_a_document_section_heading_counts_for_its_page() -> None:
    page = {
        "doc_id": "docs:Getting Started.md",
        "source": "docs",
        "title": "Getting Started",
        "text": "# Getting Started\n\n## Quick Start\n\nStart the server:\n\n```\nappcd start\n```",
        "metadata": {},
    }
    cues = question_cues("Quick start of the server?", vocabulary)
    features = record_features(cues, page, linked=False, named=False)
    assert features["section"] == pytest.approx(2 / 3)  # quick, start; not server
    issue = dict(page, doc_id="jira:DAEMON-1", source="jira")
    assert record_features(cues, issue, linked=False, named=False)["section"] == 0.0
    how = question_cues("How do I start the server?", vocabulary)
    assert how.how_to and not cues.how_to
    assert record_features(how, page, linked=False, named=False)["how_to"] == 1.0
    assert record_features(how, issue, linked=False, named=False)["how_to"] == 0.0
    commented = dict(page, text="# Setup\n\n```sh\n# start the server\nappcd start\n```")
    assert record_features(cues, commented, linked=False, named=False)["section"] == 0.0


def test_a_title_counts_in_any_form_of_its_words() -> None:
    sample = {
        "doc_id": "docs:samples/apps/widgets/complex/README.md",
        "source": "docs",
        "title": "widget_complex",
        "text": "This app is an example of a widget that makes use of another widget.",
        "metadata": {},
    }
    cues = question_cues("what does the widget_complex sample app build?", vocabulary)
    # widget_complex and its words widget and complex, sample (samples), app (apps) of
    # what, does, ..., build: five of eight terms are its name and path (only the three
    # of widget_complex as written, under MIN_TITLE_SHARE)
    title = record_features(cues, sample, linked=False, named=False)["title"]
    assert title == pytest.approx(5 / 8)
