"""The documentation runs: its examples, commands, links and paths are checked, so it cannot rot.

How to write a page (`README.md`, `ARCHITECTURE.md`, `docs/*.md`) so this test covers it:

- A fenced ``pycon`` block is an example that runs (a doctest): the page's blocks run in
  order in one namespace, from the repository root, and their output must match
  (`...` matches anything; whitespace is normalised). Leave a blank line before the closing
  fence. Keep them cheap: no training, no model downloads, seconds. A ``python`` block is an
  illustration that does not run, so it may not hold `>>>` prompts.
- Every `lepton-tf ...` line of a ``bash`` block must parse with the real command line
  (sub-command, options and their values), so a renamed flag fails here.
- Every relative link must point at a file that exists, and at one of its headings when it
  has an `#anchor`.
- Every path into the repository's folders (`lepton_tf/...`, `configs/...`, `bench/...`, ...)
  named in code or a code block must exist; write a placeholder as `<name>`.
"""

from __future__ import annotations

import configparser
import contextlib
import doctest
import glob
import io
import os
import re
import shlex

import pytest
from markdown_it import MarkdownIt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted([os.path.join(ROOT, name) for name in ("README.md", "ARCHITECTURE.md")
                if os.path.exists(os.path.join(ROOT, name))]
               + glob.glob(os.path.join(ROOT, "docs", "*.md")))
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SHELL_INFOS = {"bash", "sh", "shell", "console"}
# Committed folders a page may name; paths under runs/, indexes/, saved_models/ are built.
REPO_PATH = re.compile(r"(?<![\w/.-])(?:lepton_tf|tests|bench|configs|serving|data|docs)/[\w./*-]*")


def _relative(path: str) -> str:
    return os.path.relpath(path, ROOT)


def _tokens(path: str):
    with open(path, encoding="utf-8") as f:
        return MarkdownIt("commonmark").parse(f.read())


def _fences(path: str, infos: set[str]):
    """(first content line, 0-based; content) of the fenced blocks whose info string's
    first word is in `infos`."""
    for token in _tokens(path):
        if token.type == "fence" and token.info.split()[:1] and token.info.split()[0] in infos:
            yield token.map[0] + 1, token.content


def doc_test(path: str) -> doctest.DocTest:
    """All ``pycon`` blocks of a page as one doctest, line numbers those of the page.

    Args:
        path: a Markdown file.

    Returns:
        The `DocTest` (no examples when the page has none).
    """
    parser, examples = doctest.DocTestParser(), []
    for first_line, content in _fences(path, {"pycon"}):
        for example in parser.get_examples(content, _relative(path)):
            example.lineno += first_line
            examples.append(example)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return doctest.DocTest(examples, {"__name__": "__docs__"}, _relative(path), path, 0, text)


def run_examples(path: str) -> tuple[doctest.TestResults, str]:
    """Runs a page's examples from the repository root.

    Returns:
        The results and doctest's report of each failure.
    """
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS, verbose=False)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        runner.run(doc_test(path), out=report.write, clear_globs=True)
    finally:
        os.chdir(cwd)
    return runner.summarize(verbose=False), report.getvalue()


def shell_commands(path: str):
    """(line, argv after `lepton-tf`) of every `lepton-tf` command in a page's shell blocks."""
    for first_line, content in _fences(path, SHELL_INFOS):
        lines, start = content.splitlines(), None
        joined = []
        for i, line in enumerate(lines):
            start = first_line + i + 1 if start is None else start
            joined.append(line.rstrip().removesuffix("\\"))
            if not line.rstrip().endswith("\\"):
                yield from _lepton_argv(start, " ".join(joined))
                joined, start = [], None


def _lepton_argv(line: int, command: str):
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return  # not a shell command line (e.g. a JSON body continued from curl)
    for i, word in enumerate(words):
        if os.path.basename(word) == "lepton-tf":
            yield line, words[i + 1:]
            return


def parse_error(parser, argv: list[str]) -> str | None:
    """What the real command line says about `argv`, or None when it parses."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            args, extra = parser.parse_known_args(argv)
    except SystemExit as e:
        return None if e.code == 0 else stderr.getvalue().strip().splitlines()[-1]
    # `index` hands options it does not know to an Apache Beam runner, and refuses them
    # without one.
    beam = getattr(args, "pass_through", False) and getattr(args, "runner", None) not in (
        None, "local")
    if extra and not beam:
        return f"unrecognized arguments: {' '.join(extra)}"
    return None


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading's text."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: str) -> set[str]:
    tokens, found = _tokens(path), set()
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            found.add(github_anchor("".join(child.content for child in tokens[i + 1].children)))
    return found


def links(path: str):
    for token in _tokens(path):
        for child in token.children or []:
            if child.type == "link_open":
                yield child.attrs["href"]


def code_spans(path: str):
    for token in _tokens(path):
        for child in token.children or []:
            if child.type == "code_inline":
                yield child.content


@pytest.mark.parametrize("page", PAGES, ids=_relative)
def test_examples_run(page):
    results, report = run_examples(page)
    assert results.failed == 0, report


def test_pages_hold_examples():
    """The runner finds the examples (a wrong fence name would skip them silently)."""
    counts = {_relative(page): len(doc_test(page).examples) for page in PAGES}
    assert sum(counts.values()) >= 30, counts
    assert all(counts[f"docs/{page}.md"] for page in (
        "index-your-documents", "train", "export-and-serve", "evaluate", "assistant")), counts


@pytest.mark.parametrize("page", PAGES, ids=_relative)
def test_python_blocks_hold_no_prompts(page):
    """A `>>>` example fenced as ``python`` would never run: fence it as ``pycon``."""
    for first_line, content in _fences(page, {"python", "py"}):
        assert ">>>" not in content, f"{_relative(page)}:{first_line}: fence it as pycon"


def test_commands_parse():
    from lepton_tf.cli import build_parser

    parser, errors, count = build_parser(), [], 0
    for page in PAGES:
        for line, argv in shell_commands(page):
            count += 1
            error = parse_error(parser, argv)
            if error:
                errors.append(f"{_relative(page)}:{line}: lepton-tf {' '.join(argv)}: {error}")
    assert count >= 40, f"only {count} commands found"
    assert not errors, "\n".join(errors)


def test_links_resolve():
    errors = []
    for page in PAGES:
        for href in links(page):
            if re.match(r"^[a-z]+:", href):
                continue  # http(s), mailto: not checked offline
            target, _, anchor = href.partition("#")
            target = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target \
                else page
            if not os.path.exists(target):
                errors.append(f"{_relative(page)}: {href}: no such file")
            elif anchor and target.endswith(".md") and anchor not in anchors(target):
                errors.append(f"{_relative(page)}: {href}: no such heading")
    assert not errors, "\n".join(errors)


def test_repository_paths_exist():
    """A path into the repository's own folders, in code or a code block, exists (write a
    placeholder as `<name>`)."""
    errors = []
    for page in PAGES:
        code = [content for _, content in _fences(page, SHELL_INFOS | {"python", "pycon", "text"})]
        for text in list(code_spans(page)) + code:
            for path in REPO_PATH.findall(text):
                if not glob.glob(os.path.join(ROOT, path.rstrip(".,;:"))):
                    errors.append(f"{_relative(page)}: {path} does not exist")
    assert not errors, "\n".join(errors)


def diagram_layers(path: str) -> set[str]:
    """The package names that open the lines of a page's ``text`` diagrams."""
    names = set()
    for _, content in _fences(path, {"text"}):
        for line in content.splitlines():
            if line and not line[0].isspace():
                names.update(n.strip(" ()") for n in re.split(r"\s{2,}", line)[0].split(","))
    return names


def test_architecture_names_every_layer():
    """Every layer of the import contract is in ARCHITECTURE.md's diagram."""
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    layers = {name.strip("()") for name in
              config["importlinter:contract:layers"]["layers"].split()}
    assert "index" in layers
    missing = layers - diagram_layers(os.path.join(ROOT, "ARCHITECTURE.md"))
    assert not missing, f"ARCHITECTURE.md's layer diagram lacks {sorted(missing)}"


def test_a_wrong_example_fails(tmp_path):
    """The runner reports an example whose output differs, and a broken command."""
    page = tmp_path / "page.md"
    page.write_text("Text.\n\n```pycon\n>>> 1 + 1\n3\n\n```\n\n"
                    "```bash\nlepton-tf index --no-such-flag\n```\n", encoding="utf-8")
    results, report = run_examples(str(page))
    assert (results.attempted, results.failed) == (1, 1)
    assert "line 4" in report and "Expected:\n    3\nGot:\n    2" in report

    from lepton_tf.cli import build_parser

    [(line, argv)] = list(shell_commands(str(page)))
    assert line == 10 and argv == ["index", "--no-such-flag"]
    assert "unrecognized arguments: --no-such-flag" in parse_error(build_parser(), argv)


def test_github_anchors():
    assert github_anchor("The main job (`make run`)".replace("`", "")) == "the-main-job-make-run"
    assert github_anchor("Known questions (FAQs)") == "known-questions-faqs"
    assert github_anchor("When nothing answers: the not-found rule") == \
        "when-nothing-answers-the-not-found-rule"
