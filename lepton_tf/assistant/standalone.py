"""Whether an extracted sentence can open a reply on its own.

A sentence cut out of a passage may lean on the one before it: "i.e. ...",
"Otherwise ...", "As above, ...", "This limit can be changed ...", or a bare
link that the previous sentence introduced. Opening a reply with it leaves
the reader without what it refers to. `leans_back` spots those sentences
(an English connective or reference at the start, or nothing but a link), and
`introduces` a sentence that announces what follows ("Run:", "as follows").
The rules are lexical and deliberately conservative: a sentence flagged by
mistake only costs the reply its previous sentence, which is still the
author's own text.
"""

from __future__ import annotations

import re

# A sentence that opens with one of these refers back to the text before it.
_LEANING_OPENERS = re.compile(
    r"""^[\s"'(\[*_>-]*(?:
        i\.?\s?e\b | e\.?\s?g\b | viz\b | cf\b
      | otherwise | alternatively | instead | also | additionally | furthermore
      | moreover | however | nevertheless | nonetheless | but | and | or | nor
      | so | thus | hence | therefore | consequently | then | likewise | similarly
      | besides | still | yet | anyway | meanwhile | afterwards | finally
      | as\s+(?:above|below|before|mentioned|noted|said|stated|shown|described
               |explained|such|well)
      | see\s+(?:above|below) | above | below
      | in\s+(?:that|this|which|such\s+a|the\s+(?:above|former|latter))\s+case
      | in\s+(?:addition|contrast|particular|other\s+words|that\s+case)
      | to\s+do\s+(?:this|that|so) | if\s+(?:so|not) | for\s+(?:this|that)\s+reason
      | that(?:'s|\s+is|\s+way) | this\s+is | the\s+(?:former|latter|same)
      | same | yes | no | edit | update | ps | note\s+that\s+this
    )(?![\w-])""",
    re.IGNORECASE | re.VERBOSE)
_URL = re.compile(r"(?:https?://|www\.)\S+")
_WORD = re.compile(r"[^\W_]{2,}")
# A sentence announcing what comes next: a list, a command, a code block.
_INTRODUCES = re.compile(r"(?::|\bas\s+follows[.:]?|\bfollowing[.:]?)\s*$", re.IGNORECASE)


def leans_back(sentence: str) -> bool:
    """Whether `sentence` depends on the sentence before it.

    Args:
        sentence: one sentence, as extracted.

    Returns:
        True for an opening connective or reference ("i.e.", "Otherwise",
        "As above", "That is"), or a sentence that is little more than a
        link. Pronouns ("It ...", "This limit ...") are not counted: in
        documentation they mostly name the thing the page is about.

    >>> leans_back("i.e. http://x.com/watch?v=1#t=2m0s for your example.")
    True
    >>> leans_back("Otherwise mark4o has the best answer.")
    True
    >>> leans_back("http://www.example.com/schedule")
    True
    >>> leans_back("Itemize the costs first."), leans_back("There is a setting for it.")
    (False, False)
    """
    if _LEANING_OPENERS.match(sentence):
        return True
    return len(_WORD.findall(_URL.sub(" ", sentence))) < 3 and bool(_URL.search(sentence))


# A line of code, a command or a value: it belongs to the prose that introduces it.
_CODE_LIKE = re.compile(r"[`=$\\{}<>\[\]|]|^\s*(?:pip|python3?|conda|git|npm|apt(?:-get)?|sudo"
                        r"|cd|ls|curl|wget|docker|make|>>>|\.\.\.|from\s+\S+\s+import|import)\b"
                        r"|\w[./]\w+\s*$|^\s*[\w.]+\(.*\)\s*$")


def looks_like_code(sentence: str) -> bool:
    """Whether `sentence` is code, a command or a value rather than prose.

    >>> looks_like_code("from colorama import init"), looks_like_code("init(autoreset=True)")
    (True, True)
    >>> looks_like_code("Install the package with pip.")
    False
    """
    return bool(_CODE_LIKE.search(sentence))


_COMMAND_START = re.compile(r"^\s*(?:\$ |>>> |\.\.\. |(?:pip|python3?|conda|git|npm|sudo|curl"
                            r"|docker)\s|from\s+\S+\s+import\s|import\s)")
_PROSE_RUN = re.compile(r"(?:\b[A-Za-z]{2,}\b[ ,]+){4}")


def code_line(sentence: str) -> bool:
    """A line of code or a command (not prose quoting code): it belongs to the
    sentence that introduces it.

    >>> code_line("from colorama import init"), code_line("init(autoreset=True)")
    (True, True)
    >>> code_line("By default, a maximum of `10` listeners can be registered.")
    False
    """
    if _COMMAND_START.match(sentence):
        return True
    return looks_like_code(sentence) and not sentence.rstrip().endswith((".", "!", "?")) \
        and not _PROSE_RUN.search(sentence)


def markup_only(sentence: str) -> bool:
    """Too few words to say anything (a badge's URL, `/h11/badge/?`), or a
    reStructuredText directive or substitution line.

    >>> markup_only("/h11/badge/?"), markup_only("pip install pypdf[crypto]")
    (True, False)
    >>> markup_only("code-block:: sh."), markup_only("|Conda-Forge-Status|")
    (True, True)
    >>> markup_only("* ``format-nongpl``")
    False
    """
    if _LIST_ITEM.match(sentence) and _WORD.search(_URL.sub(" ", sentence)):
        return False  # a short list item is content: what the sentence before it lists
    return len(_WORD.findall(_URL.sub(" ", sentence))) < 3 or bool(_DIRECTIVE.match(sentence))


_LIST_ITEM = re.compile(r"^\s*(?:[*+-]|\d{1,2}[.)])\s+\S")


# A reStructuredText directive or substitution line (`.. code-block:: sh`, `|Badge|`).
_DIRECTIVE = re.compile(r"^\s*(?:\.\.\s+)?[\w-]+::(?:\s+\S+)?\.?\s*$|^\s*\|[\w-]+\|\s*$")


def introduces(sentence: str) -> bool:
    """Whether `sentence` announces what follows it ("Run:", "as follows").

    >>> introduces("Install it with pip:"), introduces("It works.")
    (True, False)
    """
    return bool(_INTRODUCES.search(sentence.rstrip()))
