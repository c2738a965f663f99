"""How much an extracted sentence reads like an answer, beyond its similarity.

The zero-shot sentence encoder scores a sentence by how much it is *about*
the question's subject: a line that names the package ("python -m pip
install portalocker" for "Which Python version does portalocker
require?"), a pointer to other documentation ("Please read the format
validation documentation for further details") or a question in the text
("How do I try it?") often outscores the sentence that answers. These
features correct for that, each from the text alone:

- **focus terms**: the question's content words (stemmed) that the
  passage's title does not already hold. The title is what every sentence
  of the passage is about, so its words do not tell the passage's sentences
  apart; the rest ("dependencies", "modified", "default") do. The share of
  focus terms a sentence holds is added.
- **a definition** for "What is X?": the passage's first sentence that
  says "X is a ..." (the first one: a document defines its subject before
  it elaborates).
- **a pointer** to other text ("see the docs", "please read ... for
  further details", "the guide covers ...") answers nothing itself.
- **a question** (a FAQ heading, a rhetorical question) is not its answer.
- **a code line or command** is an answer to "how do I" questions only
  (`assistant.standalone.code_line`), and so, for those, is an
  **instruction** ("Install the `redis` extra ...", "To disable it, pass
  ...").

They apply to sections of documents only (`is_document_section`); a record
that is one answer keeps the choice by similarity. The weights were set on
the real-docs set `bench/data/realdocs` and checked on StackFAQ train
questions (see docs/answers-and-first-hour.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from lepton_tf.assistant.standalone import code_line

FOCUS_WEIGHT = 0.3       # times the share of the question's focus terms in the sentence
DEFINITION_BONUS = 0.35  # the first sentence that defines what "What is X?" asks about
POINTER_PENALTY = 0.3
QUESTION_PENALTY = 0.2
CODE_PENALTY = 0.15      # a code line, for a question that asks no "how"
INSTRUCTION_BONUS = 0.2  # an instruction ("Install ...", "To X, pass ..."), for a "how"
_TOKEN = re.compile(r"[a-z0-9]+")
# Function words and question words: they say how something is asked, not what.
_STOP = frozenset("""a about all also am an and any are as at be been but by can could
 did do does doing for from had has have how i if in into is it its me my no not of on
 or our should so such than that the their them then there these they this those to
 us was we were what when where which who whom why will with would you your get use
 using used way possible""".split())
_DEFINITION_QUESTION = re.compile(r"^\s*what(?:'s|\s+is|\s+are)\s+(?:an?\s+|the\s+)?"
                                  r"(?P<subject>[\w.\- ]{1,40}?)\s*\??\s*$", re.IGNORECASE)
_HOW_QUESTION = re.compile(r"\b(?:how|example|command|install|run|call|code|syntax)\b",
                           re.IGNORECASE)
# An instruction: a sentence that opens with what to do (an imperative verb
# of documentation, or "To <do X>, <do Y>").
_DOING = (r"(?:install|use|run|set|pass|call|add|create|import|open|click|select|enable"
          r"|disable|configure|define|give|keep|specify|choose|put|type|press|replace|remove"
          r"|wrap|subclass|register|upgrade)")
_INSTRUCTION = re.compile(rf"^[\s*>-]*(?:{_DOING}\b|to\s+\w+\b[^.,;:]*,\s*{_DOING}\b)",
                          re.IGNORECASE)
_POINTER = re.compile(
    r"""^[\s*>-]*(?:please\s+)?(?:see|read|refer\s+to|consult|check\s+out|visit|head\s+to)\b
      | \bfor\s+(?:further|more|additional)\s+(?:details|information|info|examples)\b
      | \b(?:guide|documentation|docs|tutorial|page)\b\S*(?:\s+<[^>]*>`_|\]\([^)]*\))?\s+
        (?:covers|describes|explains|has\s+more|lists)\b""",
    re.IGNORECASE | re.VERBOSE)


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: the Snowball stemmers the lexical index uses

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=8192)
def content_stems(text: str) -> frozenset:
    """The stems of `text`'s content words (`extract_text` gives `extract`, `text`).

    >>> sorted(content_stems("Can vendored libraries be modified?"))
    ['librari', 'modifi', 'vendor']
    """
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOP and len(w) > 1]
    return frozenset(_stemmer().stemWords(words))


def focus_terms(question: str, title: str) -> frozenset:
    """The question's content stems that the passage's title does not hold.

    >>> sorted(focus_terms("Does h11 have dependencies?", "h11 > FAQ"))
    ['depend']
    """
    return content_stems(question) - content_stems(title)


def definition_subject(question: str) -> str | None:
    """What a "What is X?" question asks to have defined, else None.

    >>> definition_subject("What is h11?"), definition_subject("What is the default port?")
    ('h11', 'default port')
    >>> definition_subject("How do I install h11?") is None
    True
    """
    match = _DEFINITION_QUESTION.match(question)
    return match.group("subject").strip() if match else None


def defines(subject: str, sentence: str) -> bool:
    """Whether `sentence` opens by defining `subject` by name ("X is a ...").

    A sentence that says "This is a ..." may define the page's subject, but
    it reads as leaning on what came before when it opens a reply.

    >>> defines("h11", "h11 is a little HTTP/1.1 library written in Python.")
    True
    >>> defines("h11", "h11 contains no IO code."), defines("h11", "This is a library.")
    (False, False)
    """
    return bool(re.match(rf"^\W*{re.escape(subject)}\W*(?:'s|\s+is|\s+are)\s+(?:an?|the|one)\b",
                         sentence, re.IGNORECASE))


def is_pointer(sentence: str) -> bool:
    """Whether `sentence` sends the reader elsewhere instead of answering.

    >>> is_pointer("Please read the `format validation documentation <https://x.io>`_ for "
    ...            "further details.")
    True
    >>> is_pointer("The [Redis guide](https://x.io/redis.html) covers `lost` and health checks.")
    True
    >>> is_pointer("Redis locks need a Redis server.")
    False
    """
    return bool(_POINTER.search(sentence))


def instructs(sentence: str) -> bool:
    """Whether `sentence` tells the reader what to do.

    >>> instructs("Install the optional `redis` extra for Redis locks:")
    True
    >>> instructs("To disable whitespace removal, pass `preserve_whitespace=True`.")
    True
    >>> instructs("Redis locks need a Redis server."), instructs("See the guide.")
    (False, False)
    """
    return bool(_INSTRUCTION.match(sentence))


def asks(sentence: str) -> bool:
    """A question in the text (a FAQ heading), not an answer.

    >>> asks("*How do I try it?"), asks("It is 10.")
    (True, False)
    """
    return sentence.rstrip(" *_").endswith("?")


def is_document_section(passage) -> bool:
    """Whether `passage` is cut from a section of a file (a folder index's
    passage: `source` and `start` in its metadata), not a record that is one
    answer (a Q&A thread's answer, a FAQ entry, a JSONL or CSV record).

    A record was matched to the question as a whole and leads with its
    answer: its sentences are judged by similarity alone (on StackFAQ the
    opening sentence is the answer). In a section of a document the answer
    can sit anywhere, so answer-likeness is for those.

    >>> from lepton_tf.assistant.grounding import RetrievedPassage as P
    >>> is_document_section(P("a.md#3", "Guide > Install", "x", 1.0, (),
    ...                       {"source": "a.md", "start": 120}))
    True
    >>> is_document_section(P("q1", "How do I do it?", "x", 1.0))
    False
    """
    metadata = getattr(passage, "metadata", None) or {}
    return ("source" in metadata and "start" in metadata and "record" not in metadata
            and not getattr(passage, "questions", ()))


def answer_likeness(question: str, candidates: Sequence[tuple[int, int, str]],
                    passages: Sequence) -> np.ndarray:
    """What to add to each candidate sentence's similarity to the question.

    Args:
        question: the question as answered.
        candidates: `(passage number from 1, sentence index, text)`.
        passages: the shown passages (`RetrievedPassage`), by passage number - 1.

    Returns:
        float32 `[len(candidates)]`; 0 for the sentences of a passage that
        is not a section of a document (`is_document_section`).
    """
    subject = definition_subject(question)
    asks_how = bool(_HOW_QUESTION.search(question))
    stems = [content_stems(text) for _, _, text in candidates]
    weight = term_weights(stems)
    focus = {n: focus_terms(question, passages[n - 1].title) for n in {c[0] for c in candidates}}
    documents = {n for n in focus if is_document_section(passages[n - 1])}
    defined: set[int] = set()
    out = np.zeros(len(candidates), np.float32)
    for k, (n, _, text) in enumerate(candidates):
        if n not in documents:
            continue
        if focus[n]:
            total = sum(weight(t) for t in focus[n])
            out[k] += FOCUS_WEIGHT * sum(weight(t) for t in focus[n] & stems[k]) / total
        if subject and n not in defined and defines(subject, text):
            defined.add(n)
            out[k] += DEFINITION_BONUS
        if is_pointer(text):
            out[k] -= POINTER_PENALTY
        if asks(text):
            out[k] -= QUESTION_PENALTY
        if not asks_how and code_line(text):
            out[k] -= CODE_PENALTY
        if asks_how and instructs(text):
            out[k] += INSTRUCTION_BONUS
    return out


def term_weights(sentence_stems: Sequence[frozenset]):
    """`stem -> weight`: the inverse document frequency of a stem among the
    candidate sentences (a term in every sentence tells none of them apart).

    >>> weight = term_weights([frozenset({"pip", "modifi"}), frozenset({"pip"})])
    >>> weight("modifi") > weight("pip") > 0
    True
    """
    count = len(sentence_stems)
    frequency: dict[str, int] = {}
    for stems in sentence_stems:
        for stem in stems:
            frequency[stem] = frequency.get(stem, 0) + 1
    return lambda stem: float(np.log((count + 1) / (frequency.get(stem, 0) + 0.5)))
