"""Text cleaning rules: unicode, HTML, boilerplate and whitespace, on real corpus text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tools.cleaning.text import (
    clean_text,
    code_flags,
    normalize_inline,
    normalize_unicode,
    normalize_whitespace,
    remove_boilerplate,
    split_fenced,
    strip_html,
)
from tools.loaders.jira_markup import jira_to_markdown

COMMENT_HEADING = re.compile(r"^## Comment by .+ on \d{4}-\d{2}-\d{2}$", re.M)


def issue(corpus_dir: Path, key: str) -> dict:
    return json.loads((corpus_dir / "jira" / key.split("-")[0] / f"{key}.json").read_text())


def record_text(corpus_dir: Path, key: str) -> str:
    """Record text as the loader convention shapes it: description, then comment sections."""
    fields = issue(corpus_dir, key)["fields"]
    parts = [jira_to_markdown(fields.get("description") or "")]
    for comment in fields["comment"]["comments"]:
        heading = f"## Comment by {comment['author']['displayName']} on {comment['created'][:10]}"
        parts.append(f"{heading}\n\n{jira_to_markdown(comment.get('body') or '')}")
    return "\n\n".join(parts)


def code_blocks(text: str) -> list[str]:
    return [part.strip("\n") for is_code, part in split_fenced(text) if is_code]


def doc(corpus_dir: Path, relative: str) -> str:
    return (corpus_dir / "docs" / relative).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def jira_texts(corpus_dir: Path) -> dict[str, str]:
    keys = sorted(path.stem for path in (corpus_dir / "jira").glob("*/*-*.json"))
    return {key: record_text(corpus_dir, key) for key in keys}


# --- every Jira issue of the test corpus ---------------------------------------------------


def test_every_comment_and_code_block_of_the_corpus_survives(jira_texts: dict[str, str]) -> None:
    assert len(jira_texts) == 310  # every issue of tests/data/corpus
    for key, text in jira_texts.items():
        cleaned = clean_text(text)
        assert len(COMMENT_HEADING.findall(cleaned)) == len(COMMENT_HEADING.findall(text)), key
        before = [normalize_whitespace(block) for block in code_blocks(normalize_unicode(text))]
        after = code_blocks(cleaned)
        assert all(block in after for block in before), key


def test_cleaning_is_idempotent_on_the_corpus(jira_texts: dict[str, str]) -> None:
    for key, text in jira_texts.items():
        once = clean_text(text)
        assert clean_text(once) == once, key


def test_corpus_output_has_no_control_characters_or_crlf(jira_texts: dict[str, str]) -> None:
    bad = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff\u00a0]")
    for key, text in jira_texts.items():
        assert not bad.search(clean_text(text)), key


# --- unicode ------------------------------------------------------------------------------


def test_ansi_colours_and_backspaces_from_a_real_log_are_removed(corpus_dir: Path) -> None:
    text = record_text(corpus_dir, "ALOY-464")
    assert "\x1b[31m" in text and "\x08" in text
    cleaned = clean_text(text)
    assert "[ERROR] : [ERROR] Error with <HeaderView> at line 3" in cleaned
    assert '<HeaderView class="header">' in cleaned


def test_zero_width_and_non_breaking_spaces_from_real_issues(corpus_dir: Path) -> None:
    zero_width = record_text(corpus_dir, "DAEMON-270")
    assert "\u200b It also causes" in zero_width
    cleaned = clean_text(zero_width)
    assert "\u200b" not in cleaned and " It also causes Appc Studio to beach ball" in cleaned
    nbsp = record_text(corpus_dir, "ALOY-1366")
    assert "\u00a0" in nbsp
    assert "From doc:\nIn your theme folder" in clean_text(nbsp)


def test_nfkc_in_prose_and_nfc_in_code() -> None:
    text = "ﬁle ｆｕｌｌ x² e\u0301\n\n```js\nvar s = \"x²\";\u00a0\nvar t = 'ｆ';\n```"
    assert clean_text(text) == "file full x2 é\n\n```js\nvar s = \"x²\";\nvar t = 'ｆ';\n```"


def test_line_ends_and_control_characters() -> None:
    assert normalize_unicode("a\r\nb\rc\u2028d\x0ce\x00f\x7fg\x85h") == "a\nb\nc\nd\nefg\nh"
    assert normalize_unicode("tab\tstays") == "tab\tstays"


def test_normalize_inline_makes_one_line_titles() -> None:
    assert normalize_inline("  Support\u00a0<ActionView>\n in   <MenuItem>\t") == (
        "Support <ActionView> in <MenuItem>"
    )


# --- HTML ---------------------------------------------------------------------------------


def test_real_doc_html_becomes_markdown(corpus_dir: Path) -> None:
    readme = strip_html(doc(corpus_dir, "alloy/jakelib/readme.md"))
    assert "(see [the docs](http://docs.appcelerator.com/platform/latest/#!/guide/" in readme
    assert "<a href" not in readme
    assert "do not have an <sdk-version> tag" in readme
    logcat = strip_html(doc(corpus_dir, "appc-daemon/docs/CLI/logcat.md"))
    assert "Press CTRL-C to quit." in logcat
    changelog = strip_html(doc(corpus_dir, "alloy/CHANGELOG.md"))
    assert "Support <ActionView/> as a child tag of the <MenuItem> object" in changelog


def test_literal_amp_entity_in_a_real_comment_stays(corpus_dir: Path) -> None:
    text = record_text(corpus_dir, "ALOY-677")
    assert 'renders as an actual "&" and not as "&amp;"' in clean_text(text)


def test_real_pseudo_code_tags_become_fences(corpus_dir: Path) -> None:
    cleaned = clean_text(record_text(corpus_dir, "ALOY-594"))
    assert "<code>" not in cleaned
    assert any(
        block.startswith("```\n<TableView") and 'dataCollection="$.tipcollection"' in block
        for block in code_blocks(cleaned)
    )


def test_alloy_markup_and_html_with_data_attributes_stay(corpus_dir: Path) -> None:
    cleaned = clean_text(record_text(corpus_dir, "ALOY-33"))
    assert '<div data-ti-api="Include" data-ti-src="path/to/html/file" />' in cleaned
    markup = (
        '<Alloy>\n  <Window class="container">\n    <Label id="l">Hi</Label>\n  </Window>\n</Alloy>'
    )
    assert strip_html(markup) == markup


def test_stray_html_is_stripped_outside_code_only() -> None:
    text = (
        "<p>Hello<br/>world, <b>bold</b> <span style='color:red'>red</span> "
        "<i>it</i> &lt;Label&gt; &quot;q&quot; `<b>kept</b>`</p>\n"
        "<ul><li>one</li><li>two</li></ul> <img src='x.png' alt='logo'>\n"
        "```html\n<p>kept &amp; raw</p>\n```"
    )
    assert clean_text(text) == (
        'Hello\nworld, bold red it <Label> "q" `<b>kept</b>`\n\n- one\n- two\nlogo\n'
        "```html\n<p>kept &amp; raw</p>\n```"
    )


# --- boilerplate --------------------------------------------------------------------------


def test_real_double_dash_separator_is_not_a_signature(corpus_dir: Path) -> None:
    text = record_text(corpus_dir, "DAEMON-209")
    cleaned = clean_text(text)
    assert "Can I do something to fix it?\n\n--\n\nThere's a bug in ioslib" in cleaned


def test_real_quotes_prompts_and_you_wrote_stay(corpus_dir: Path) -> None:
    quoted = clean_text(record_text(corpus_dir, "DAEMON-206"))
    assert "> npm WARN deprecated node-uuid@1.4.8" in quoted
    prompts = clean_text(record_text(corpus_dir, "DAEMON-139"))
    assert ">:~ feonsua$ which npm" in prompts
    wrote = clean_text(record_text(corpus_dir, "ALOY-506"))
    assert "You wrote:\n\nThere needs to be a way to execute code before the markup." in wrote


def test_human_comments_about_ci_and_merges_stay(corpus_dir: Path) -> None:
    merged = clean_text(record_text(corpus_dir, "ALOY-1210"))
    assert "## Comment by Feon Sua Xin Miao on" in merged and "\nPR merged." in merged
    jenkins = clean_text(record_text(corpus_dir, "ALOY-1054"))
    assert "I'm waiting for Jenkins to run before merging." in jenkins
    hudson = clean_text(record_text(corpus_dir, "ALOY-444"))
    assert hudson.count("## Comment by Gregory Hudson on") == 3


@pytest.mark.parametrize(
    "author, body",
    [
        ("Jenkins", "Build passed."),
        ("dependabot[bot]", "Bumps lodash from 4.17.15 to 4.17.21."),
        ("ASF GitHub Bot", "Looks fine to me."),
        (
            "Tim Poulsen",
            "SUCCESS: Integrated in titanium_mobile_master #1234 (See [http://ci/1234/])",
        ),
        ("Tim Poulsen", "Integrated in alloy-nightly #88\n ALOY-12: fix (Revision abc123)"),
        ("Chris Barber", "Jenkins build #512 for PR 88 failed"),
        ("Chris Barber", "Pull request #595 was merged by tlukasavage into master"),
        (
            "Ewan Harris",
            "GitHub user ewanharris opened a pull request: https://github.com/x/y/pull/1",
        ),
    ],
)
def test_bot_comment_sections_are_dropped(author: str, body: str) -> None:
    text = (
        "Description.\n\n## Comment by Tony Lukasavage on 2014-01-02\n\nHuman note.\n\n"
        f"## Comment by {author} on 2014-01-03\n\n{body}\n\n"
        "## Comment by Tim Poulsen on 2014-01-04\n\nPR merged."
    )
    assert clean_text(text) == (
        "Description.\n\n## Comment by Tony Lukasavage on 2014-01-02\n\nHuman note.\n\n"
        "## Comment by Tim Poulsen on 2014-01-04\n\nPR merged."
    )


def test_signature_sent_from_and_quoted_reply_chain_are_dropped() -> None:
    text = (
        "## Comment by Jane Roe on 2015-01-05\n\n"
        "That fixed it, thanks!\n\n"
        "Sent from my iPhone\n\n"
        "On Mon, Jan 5, 2015 at 10:00 AM, John Doe <john@example.com> wrote:\n"
        "> Try clearing the build folder.\n"
        ">\n"
        "> John\n\n"
        "-- \n"
        "Jane Roe\n"
        "Senior Engineer, Example Corp\n\n"
        "## Comment by John Doe on 2015-01-06\n\n"
        "Great.\n"
        "-----Original Message-----\n"
        "From: Jane Roe\n"
        "Sent: Monday\n"
        "Subject: RE: build\n\n"
        "That fixed it"
    )
    assert clean_text(text) == (
        "## Comment by Jane Roe on 2015-01-05\n\nThat fixed it, thanks!\n\n"
        "## Comment by John Doe on 2015-01-06\n\nGreat."
    )


def test_wrapped_attribution_line_is_recognised() -> None:
    text = "Done.\n\nOn Tue, Feb 3, 2015 at 9:12 PM, Jane Roe <\njane@example.com> wrote:\n> old\n"
    assert remove_boilerplate(text) == "Done.\n\n"


def test_boilerplate_rules_leave_lookalikes_alone() -> None:
    text = (
        "On iOS the app crashes.\n"
        "> This is a quoted requirement without attribution.\n\n"
        "Steps:\n--\nrun `ti build` and wait until the simulator has started and shows the window"
        " that the test app opens after launch, which takes a while on older machines\n\n"
        "```\n-- \nOn Mon, x wrote:\n> in code\nSent from my iPhone\n```"
    )
    assert remove_boilerplate(text) == text


# --- whitespace ---------------------------------------------------------------------------


def test_whitespace_keeps_paragraphs_and_code_indentation() -> None:
    text = (
        "\n\n  Title   with  spaces  \n\n\n\nPara\tone.   \n    indented   code  line\n\n"
        "```python\ndef f():\n\n\n    return  1   \n```\n\n\n\nEnd."
    )
    assert normalize_whitespace(text) == (
        "  Title   with  spaces\n\nPara one.\n    indented   code  line\n\n"
        "```python\ndef f():\n\n\n    return  1\n```\n\nEnd."
    )


def test_unclosed_fence_runs_to_the_end() -> None:
    lines = ["text", "```", "  code", "", "more"]
    assert code_flags(lines) == [False, True, True, True, True]
    assert normalize_whitespace("a\n```\n  x   y\n\n\n  z") == "a\n```\n  x   y\n\n\n  z"


def test_longer_fence_closes_only_on_an_equal_or_longer_one() -> None:
    lines = ["````", "```", "still code", "````", "prose"]
    assert code_flags(lines) == [True, True, True, True, False]
