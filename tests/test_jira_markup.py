"""Jira wiki markup -> Markdown-like text, on real corpus snippets and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.loaders.jira_markup import fence, jira_to_markdown


def _text(corpus_dir: Path, key: str, index: int) -> str:
    """The description (index 0) or comment ``index`` of a real issue."""
    project = key.split("-")[0]
    fields = json.loads((corpus_dir / "jira" / project / f"{key}.json").read_text())["fields"]
    bodies = [fields.get("description") or ""]
    bodies += [c.get("body") or "" for c in fields["comment"]["comments"]]
    return bodies[index]


def test_real_table_colors_and_bold(corpus_dir: Path) -> None:
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1048", 6))
    assert out.startswith("Reopening this issue as NOT FIXED for the build:")
    assert "| Component | Version |\n| --- | --- |\n| OS | OSX 10.9.3" in out
    assert "| alloy | 1.4.0-rc |" in out
    assert "{color" not in out and "*" not in out


def test_real_image_ins_and_spaced_color(corpus_dir: Path) -> None:
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1048", 0))
    assert "Refer [image: AlloyWarning.png]" in out
    assert "\nActual: Observe" in out and "\nExpected: No warning" in out
    assert "Steps to replicate:" in out
    assert 'Adding code "#label":{} in index.tss' in out and "{color" not in out


def test_real_code_with_language_is_kept_verbatim(corpus_dir: Path) -> None:
    raw = _text(corpus_dir, "ALOY-1000", 3)
    out = jira_to_markdown(raw)
    code = raw.split("{code:javascript}")[1].split("{code}")[0].replace("\r\n", "\n").strip("\n")
    assert f"```javascript\n{code}\n```" in out
    assert "$.__views.genre!click!doClick" in out  # '!...!' inside code is no image


def test_real_noformat_and_bold_headings(corpus_dir: Path) -> None:
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1056", 0))
    assert out.startswith("Preface\nNot sure")
    assert '```\n[ERROR] :  Script Error {\n[ERROR] :      backtrace = "#0 () at file:' in out
    assert "{noformat}" not in out


def test_real_headings_without_space(corpus_dir: Path) -> None:
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1015", 0))
    assert out.startswith("##### Issue description\n")
    assert "###### alloy.js\n\n```\nTi.include('testing.js');" in out
    assert "###### Console Output" in out


def test_real_emphasis_on_path_and_nested_numbered_list(corpus_dir: Path) -> None:
    assert "under alloy/test/apps, we" in jira_to_markdown(_text(corpus_dir, "ALOY-1014", 0))
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1336", 3), {"cbarber": "Chris Barber"})
    assert "1. This will not get fixed\n  1. Because somehow" in out
    assert "\n  2. Because a new version" in out
    assert "\n2. This is no longer related" in out
    assert "Sorry @Chris Barber but" in out


def test_real_quote_mono_and_issue_link(corpus_dir: Path) -> None:
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1071", 2))
    assert out.startswith('> First of all, in css style, The "#" is stand for id')
    assert "`$.addClass($.view, 'clicked')`" in out
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1115", 0))
    assert "`alloy create_sample basics/simple`" in out
    assert "\n> ...The samples are actually installed" in out
    assert "There is also a doc ticket (TIDOC-1849) to better" in out


def test_real_strike_and_panel(corpus_dir: Path) -> None:
    out = jira_to_markdown(_text(corpus_dir, "ALOY-1045", 1))
    assert out.startswith("~~Alloy master pull request:~~ https://github.com/")
    assert "Alloy 1_4_X pull request" in out
    out = jira_to_markdown(_text(corpus_dir, "ALOY-742", 0))
    assert "{panel}" not in out
    assert "\nsavoytruffle:AlloyTestDynamicStyling bhatfield$ alloy generate -b style index" in out


@pytest.mark.parametrize(
    "text",
    [
        "my_var_name and __init__.py and _private_method",
        "_.isFunction(x) ? a : _.template(y); Function._.each._.forEach",
        "copy widgets/*/assets and foo/*/bar, then *.js, *.tss",
        "Alloy- and Appc-CLI-version on 2014-05-01 :-) run alloy generate -b style index -f",
        "a + b + c and C++ and 1+2+3",
        '[INFO] Generated style and arr["title"] and [x|y]',
        "Thanks! It works!",
        "**not bold** and a * b * c",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert jira_to_markdown(text) == text


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("h1. Title", "# Title"),
        ("h6. *Deep*", "###### Deep"),
        ("{{a_b_c}} and {{x*y*z}}", "`a_b_c` and `x*y*z`"),
        ("{{has `tick`}}", "`` has `tick` ``"),
        ("see [the docs|http://d.io/a_b_c] now", "see the docs (http://d.io/a_b_c) now"),
        ("[http://x.io/a_b_] and [mailto:a@b.io]", "http://x.io/a_b_ and a@b.io"),
        ("[~jdoe] and [~ghost]", "@Jane Doe and @ghost"),
        ("[^log.txt] and [ALOY-12]", "log.txt and ALOY-12"),
        ("url https://x.io/_a_/b_c_. end", "url https://x.io/_a_/b_c_. end"),
        ("*bold* _em_ -gone- +ins+", "bold em ~~gone~~ ins"),
        ("_*both*_ and *_both_*", "both and both"),
        (
            "!shot.png|thumbnail! !https://h.io/i.gif!",
            "[image: shot.png] [image: https://h.io/i.gif]",
        ),
        ("\\*literal\\* and \\{code\\}", "*literal* and {code}"),
        ("* a\n** b\n- c", "- a\n  - b\n- c"),
        ("# one\n# two\n\n# again", "1. one\n2. two\n\n1. again"),
        ("||h1||h2||\n|a|[x|http://x.io]|", "| h1 | h2 |\n| --- | --- |\n| a | x (http://x.io) |"),
        ("----", "---"),
        ("{quote}one\n\ntwo{quote}", "> one\n>\n> two"),
        ("{panel:title=Output|borderStyle=dashed}\nbody\n{panel}", "Output\n\nbody"),
        ("{color:#ff0000}red{color} {anchor:top}", "red"),
        ("a\r\n\r\n\r\n\r\nb  ", "a\n\nb"),
    ],
)
def test_conversions(markup: str, expected: str) -> None:
    assert jira_to_markdown(markup, {"jdoe": "Jane Doe"}) == expected


def test_code_blocks_are_untouched() -> None:
    body = "def f(*args, **kw):\n    return _x_ * 2  # *not bold*\n\n\n    h1. no heading"
    out = jira_to_markdown(f"intro\n{{code:python}}\n{body}\n{{code}}\nafter")
    assert out == f"intro\n\n```python\n{body}\n```\n\nafter"


def test_code_inside_quote_is_quoted_and_fenced() -> None:
    out = jira_to_markdown("{quote}see:\n{code}x = 1{code}\n{quote}")
    assert out == "> see:\n>\n> ```\n> x = 1\n> ```"


def test_code_language_forms_and_inline_code() -> None:
    assert jira_to_markdown("{code:title=A.java|language=Java}\nint x;\n{code}") == (
        "```java\nint x;\n```"
    )
    assert jira_to_markdown("{code:title=A.java|borderStyle=solid}\nx\n{code}") == "```\nx\n```"
    assert jira_to_markdown("Using {code:js}var a = 1;{code} fails") == "Using `var a = 1;` fails"


def test_unclosed_code_runs_to_the_end() -> None:
    assert jira_to_markdown("before {code:java}\nint *x* = _y_;\n") == (
        "before\n\n```java\nint *x* = _y_;\n```"
    )


def test_fence_grows_past_backticks_in_body() -> None:
    assert fence("a\n```\nb", "md") == "````md\na\n```\nb\n````"
    assert jira_to_markdown("{noformat}\n```\n{noformat}") == "````\n```\n````"


def test_empty_and_none() -> None:
    assert jira_to_markdown(None) == ""
    assert jira_to_markdown("") == ""
    assert jira_to_markdown("\r\n  \r\n") == ""


def test_private_use_markers_in_input_cannot_inject() -> None:
    assert jira_to_markdown("x \ue0000\ue001 {{y}}") == "x 0 `y`"
