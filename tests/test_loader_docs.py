"""Docs loader: real Markdown and text from the corpus, generated rst/html/pdf/docx."""

from __future__ import annotations

import shutil
from pathlib import Path

import docx
import pytest

from tools.config import Settings, SourcesSettings, WashSettings
from tools.loaders import load_sources
from tools.loaders.docs import markdown_to_text
from tools.records import SourceRecord
from tools.report import StageReport

RST = """\
==============
Plugin Guide
==============

Plugins extend the daemon. Use ``appcd pm install`` or see `the docs <https://x.org/pm>`_.

Install
=======

.. code-block:: bash

   appcd pm install @appcd/plugin-jdk

* first step
* second step

#. numbered one
#. numbered two

Options
-------

.. note:: Restart the daemon afterwards.

.. include:: /etc/passwd

+--------+---------+
| name   | default |
+========+=========+
| port   | 1732    |
+--------+---------+
"""

HTML = """\
<!DOCTYPE html>
<html><head><title>Daemon Status</title><style>body { color: red }</style>
<script>alert("drop me")</script></head>
<body><nav><a href="/">Home</a> | <a href="/x">Menu</a></nav>
<h1>Status endpoint</h1>
<p>Call <code>appcd exec /appcd/status</code> to read the <b>status</b>.<!-- hidden --></p>
<pre><code class="language-js">const status = await appcd.call('/appcd/status');
console.log(status);</code></pre>
<h2>Fields</h2>
<ul><li>pid</li><li>uptime <a href="https://x.org/up">docs</a></li></ul>
<table><tr><th>field</th><th>type</th></tr><tr><td>pid</td><td>number</td></tr></table>
</body></html>
"""


def _pdf(title: str, lines: list[str]) -> bytes:
    """A small valid one-page PDF with Helvetica text and a document title."""
    stream = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        f"<< /Title ({title}) /Author (Dana Writer) /CreationDate (D:20240305120000Z) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>"
    return out + f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()


def _docx(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Upgrade Runbook"
    document.core_properties.author = "Sam Ops"
    document.add_heading("Upgrade Runbook", 0)
    document.add_paragraph("Follow these steps to upgrade the daemon.")
    document.add_heading("Before you start", 1)
    document.add_paragraph("Stop the daemon", style="List Number")
    document.add_paragraph("Back up the config", style="List Number")
    document.add_paragraph("Optional cleanup", style="List Bullet")
    document.add_heading("Ports", 2)
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("service", "port"), ("appcd", "1732")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.save(path)


@pytest.fixture
def docs_root(corpus_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    shutil.copytree(corpus_dir / "docs" / "appc-daemon" / "docs", root / "daemon")
    shutil.copy(
        corpus_dir / "docs" / "alloy" / "samples" / "apps" / "ui" / "map" / "README.md", root
    )
    ndk = corpus_dir / "docs" / "appc-daemon" / "test" / "fixtures" / "android" / "ndk"
    shutil.copy(ndk / "linux" / "r9d-64bit" / "RELEASE.TXT", root)
    generated = root / "generated"
    generated.mkdir()
    (generated / "guide.rst").write_text(RST)
    (generated / "status.html").write_text(HTML)
    (generated / "notes.pdf").write_bytes(
        _pdf("Release Notes 4.0", ["Daemon 4.0 released", "Node 16 required"])
    )
    _docx(generated / "runbook.docx")
    return root


def _load(
    tmp_path: Path, *entries: str, max_bytes: int = 5_000_000
) -> tuple[dict[str, SourceRecord], StageReport]:
    settings = Settings(base_dir=tmp_path, wash=WashSettings(max_file_bytes=max_bytes))
    report = StageReport("wash")
    records = list(load_sources(SourcesSettings(docs=list(entries)), settings, report))
    assert [r.id for r in records] == sorted(r.id for r in records)
    return {r.id: r for r in records}, report


def test_real_markdown_and_text(docs_root: Path, tmp_path: Path) -> None:
    records, report = _load(tmp_path, "docs")
    assert report.skipped == [] and report.failed == []
    assert report.items_in == len(records) == 68 + 2 + 4
    start = records["docs:daemon/Getting Started.md"]
    assert start.title == "Getting Started"
    assert start.uri == "daemon/Getting Started.md"  # relative: no path of this machine
    linked = SourcesSettings(docs=["docs"], docs_base_url="https://example.org/guide/")
    settings = Settings(base_dir=tmp_path)
    uris = {r.id: r.uri for r in load_sources(linked, settings, StageReport("wash"))}
    assert uris[start.id] == "https://example.org/guide/daemon/Getting%20Started.md"
    assert start.metadata == {
        "project": "docs",
        "format": "markdown",
        "path": "daemon/Getting Started.md",
    }
    assert "\n# Getting Started\n\n## Installation\n" in start.text
    assert "```\nnpm i -g appcd\n```" in start.text  # indented code is fenced
    maps = records["docs:README.md"]
    assert (maps.title, maps.text.split("\n")[0]) == ("Maps", "# Maps")  # setext heading
    text = records["docs:RELEASE.TXT"]
    assert (text.title, text.text, text.metadata["format"]) == (
        "RELEASE.TXT",
        "r9d (64-bit)",
        "text",
    )
    assert "docs:daemon/Release Notes/Appc Daemon 4.0.0.md" in records


def test_generated_formats(docs_root: Path, tmp_path: Path) -> None:
    records, report = _load(tmp_path, "docs/generated")
    assert report.skipped == [] and report.failed == []

    rst = records["docs:guide.rst"]
    assert rst.title == "Plugin Guide"
    assert rst.text.startswith(
        "# Plugin Guide\n\nPlugins extend the daemon. Use `appcd pm install`"
    )
    assert "see the docs (https://x.org/pm)." in rst.text
    assert "## Install\n\n```bash\nappcd pm install @appcd/plugin-jdk\n```" in rst.text
    assert (
        "- first step\n- second step" in rst.text and "1. numbered one\n2. numbered two" in rst.text
    )
    assert "### Options" in rst.text and "Note: Restart the daemon afterwards." in rst.text
    assert "| name | default |\n| --- | --- |\n| port | 1732 |" in rst.text
    assert "root:" not in rst.text  # file inclusion is disabled

    html = records["docs:status.html"]
    assert html.title == "Daemon Status"
    assert html.text.startswith(
        "# Status endpoint\n\nCall `appcd exec /appcd/status` to read the status."
    )
    assert (
        "```js\nconst status = await appcd.call('/appcd/status');\nconsole.log(status);\n```"
        in html.text
    )
    assert "## Fields\n\n- pid\n- uptime docs (https://x.org/up)" in html.text
    assert "| field | type |\n| --- | --- |\n| pid | number |" in html.text
    for dropped in ("drop me", "color: red", "Menu", "hidden"):
        assert dropped not in html.text

    pdf = records["docs:notes.pdf"]
    assert pdf.title == "Release Notes 4.0"
    assert pdf.text == "Daemon 4.0 released\nNode 16 required"
    assert pdf.metadata["author"] == "Dana Writer" and pdf.metadata["pages"] == 1
    assert pdf.metadata["created"].startswith("2024-03-05T12:00:00")

    word = records["docs:runbook.docx"]
    assert word.title == "Upgrade Runbook"
    assert word.text == (
        "# Upgrade Runbook\n\nFollow these steps to upgrade the daemon.\n\n# Before you start\n\n"
        "1. Stop the daemon\n\n2. Back up the config\n\n- Optional cleanup\n\n## Ports\n\n"
        "| service | port |\n| --- | --- |\n| appcd | 1732 |"
    )
    assert word.metadata["author"] == "Sam Ops"


def test_roots_for_globs_and_single_files(docs_root: Path, tmp_path: Path) -> None:
    records, _ = _load(tmp_path, "docs/**/Release Notes/*4.0.0.md", "docs/generated/guide.rst")
    assert sorted(records) == [
        "docs:daemon/Release Notes/Appc Daemon 4.0.0.md",
        "docs:guide.rst",
    ]
    assert records["docs:guide.rst"].metadata["project"] == "generated"
    everything, report = _load(tmp_path, "docs/**")  # matches files and their folders
    assert len(everything) == report.items_in == 74 and report.skipped == []


def test_bad_documents_are_skipped_with_reasons(docs_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "binary.md").write_bytes(b"# Title\x00\x00\x01")
    (bad / "latin1.txt").write_bytes("Caf\xe9 notes".encode("latin-1"))
    (bad / "empty.rst").write_bytes(b"")
    (bad / "big.md").write_text("# Big\n\n" + "word " * 400)
    (bad / "image.png").write_bytes(b"\x89PNG\r\n")
    (bad / "Makefile").write_text("all:\n")
    (bad / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    (bad / "fake.docx").write_text("plain text pretending to be a docx")
    (bad / "comment.html").write_text("<html><!-- only a comment --><script>x()</script></html>")
    (bad / ".draft.md").write_text("# hidden draft")
    (bad / ".git").mkdir()
    (bad / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    records, report = _load(tmp_path, "bad", max_bytes=1000)
    assert records == {}
    reasons = {Path(s["item"]).name: s["reason"] for s in report.skipped}
    assert reasons == {
        "binary.md": "binary file (contains NUL bytes)",
        "latin1.txt": "invalid UTF-8 at byte 3",
        "empty.rst": "empty file",
        "big.md": "file larger than wash.max_file_bytes (2007 > 1000)",
        "image.png": "unsupported extension '.png'",
        "Makefile": "unsupported extension ''",
        "broken.pdf": reasons["broken.pdf"],
        "fake.docx": reasons["fake.docx"],
        "comment.html": "no text content",
    }
    assert reasons["broken.pdf"].startswith("unreadable PDF: ")
    assert reasons["fake.docx"].startswith("unreadable DOCX: ")
    assert report.counters["ignored:hidden"] == 2
    assert report.items_in == 9 and report.failed == []


def test_markdown_comments_front_matter_and_code_kept() -> None:
    source = (
        "---\ntitle: From Front Matter\ntags: [a]\n---\n"
        "Intro <!-- drop --> text\n\n<!--\nblock comment\n-->\n\n"
        "```html\n<!-- kept inside code -->\n```\n\nSub\n---\n"
    )
    title, text, _ = markdown_to_text(source)
    assert title == "From Front Matter"
    assert "drop" not in text and "block comment" not in text
    assert "```html\n<!-- kept inside code -->\n```" in text
    assert text.rstrip().endswith("## Sub")


def test_reference_links_become_inline_links(corpus_dir: Path) -> None:
    page = corpus_dir / "docs" / "appc-daemon" / "docs" / "Getting Started.md"
    source = page.read_text("utf-8")

    _, text, _ = markdown_to_text(source)

    assert "\n[11]: https://github.com/appcelerator/appcd-plugin-amplify#readme" in source
    assert "[11]:" not in text and "[docs][11]" not in text
    amplify = "[docs](https://github.com/appcelerator/appcd-plugin-amplify#readme)"
    assert f"| @appcd/plugin-amplify     | {amplify} |" in text
    _, text, _ = markdown_to_text("[a][x], [x][], [x], `[x][x]`, [y] [1]\n\n[X]: http://e/ 'T'\n")
    assert text.strip() == "[a](http://e/), [x](http://e/), [x](http://e/), `[x][x]`, [y] [1]"
    badge = "[![Build][img]][url]\n\n[img]: https://img/x.svg\n[url]: https://ci/x\n"
    assert markdown_to_text(badge)[1].strip() == "[![Build](https://img/x.svg)](https://ci/x)"


def test_a_changelog_is_titled_by_its_folder_not_its_latest_entry(
    corpus_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "alloy"
    folder = root / "test" / "apps" / "testing" / "ALOY-1262" / "lib" / "validator.js"
    folder.mkdir(parents=True)
    shutil.copy(corpus_dir / "docs" / "alloy" / "CHANGELOG.md", root)
    shutil.copy(corpus_dir / "docs" / "alloy" / "CHANGELOG.md", folder)
    records, _ = _load(tmp_path, "alloy")

    # the first heading is "[2.1.0](https://github.com/...) (2024-01-09)", an entry
    assert records["docs:CHANGELOG.md"].title == "alloy CHANGELOG"
    assert records["docs:test/apps/testing/ALOY-1262/lib/validator.js/CHANGELOG.md"].title == (
        "validator.js CHANGELOG"
    )
    assert "\n## [1.17.3](" in records["docs:CHANGELOG.md"].text  # the entries are kept
    (root / "guide.md").write_text("# 1.1 Overview\n\nWhat the guide covers.\n")
    records, _ = _load(tmp_path, "alloy")
    assert records["docs:guide.md"].title == "1.1 Overview"  # a numbered section, no changelog
