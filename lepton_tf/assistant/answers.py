"""A search turn's reply: whole sentences of the retrieved passages, each cited.

The reply is extractive. Every shown passage is split into sentences (with
`pysbd`, a maintained rule-based sentence boundary detector that keeps URLs,
abbreviations and decimals whole), each sentence is scored by how well it
answers the question, and the reply is the best sentence followed by the
sentences after it in the same passage (an answer's steps come in order)
while they still answer the question, up to `MAX_SENTENCES` sentences or
`MAX_CHARS` characters, and the best sentence of another passage when it
answers nearly as well. Each sentence is followed by the `[n]` of its
passage, so each citation holds every word before it (citation precision
1 by construction), and no reply is cut mid-sentence or mid-URL.

The score of a sentence is its cosine similarity to the question (the
assistant's `encoder`; without one, a lexical overlap), plus a small bonus
for a passage's opening sentence (answers tend to lead with the answer)
and for the passage's own search score (the retriever ranked the whole
passage). A sentence that repeats a word 3-gram of the reply so far is skipped, and
so is one already said in the previous reply of the session unless nothing
new answers nearly as well.

>>> from lepton_tf.assistant.grounding import RetrievedPassage
>>> p = [RetrievedPassage("a", "Strike", "I tried <del>x</del>. It failed.", 0.7),
...      RetrievedPassage("b", "Strike", "Use ~~tildes around the words~~.", 0.6)]
>>> extractive_answer("how do I strike words with tildes", p)[0]
'Use ~~tildes around the words~~. [2]'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np

from lepton_tf.assistant.answer_likeness import answer_likeness
from lepton_tf.assistant.standalone import (code_line, introduces, leans_back, looks_like_code,
                                            markup_only)

MAX_SENTENCES = 3
MAX_CANDIDATES = 12    # sentences per passage scored (answers lead with the answer)
MAX_CHARS = 500        # a following sentence is added only within this budget
MIN_FOLLOW_RATIO = 0.6  # a following sentence scores at least this share of the best
OTHER_PASSAGE_RATIO = 0.9  # another passage's sentence scores at least this share
OPENING_BONUS = 0.05
PASSAGE_WEIGHT = 0.5    # of the passage's search score
_WORD = re.compile(r"[a-z0-9]+")
_CITE = re.compile(r"\s*\[\d{1,2}\]")
_END = ".!?)\"'"
# Kept whole when splitting: inline code (Markdown `x`, reStructuredText ``x``;
# pysbd ends a sentence at the `.` of `pp.LineEnd().suppress()`), and a URL
# without the punctuation that may end the sentence after it.
_UNSPLIT = re.compile(r"``[^`\n]{1,200}``|`[^`\n]{1,200}`"
                      r"|(?:https?://|www\.)\S*[^\s.,;:!?)\]'\"]")
_PLACEHOLDER = re.compile(r"urlplaceholder(\d+)x")
OPENING_CHARS = 300    # the passage opening quoted when no extract stands alone
MAX_LEAN_BACK = 3      # sentences added before one that refers back


@functools.lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


@functools.lru_cache(maxsize=4096)
def split_sentences(text: str) -> tuple[str, ...]:
    """The sentences of `text`, whitespace collapsed, empty ones dropped.

    URLs and inline code are kept whole (pysbd would end a sentence at the
    `!` of `#!` or the `.` of `f().g()`):

    >>> split_sentences("Go to http://x.com/a.b and click Submit. Wait 14 days.")
    ('Go to http://x.com/a.b and click Submit.', 'Wait 14 days.')
    >>> split_sentences("Join at https://groups.google.com/forum/#!forum/x. Then wait.")
    ('Join at https://groups.google.com/forum/#!forum/x.', 'Then wait.')
    >>> split_sentences("Define `NL = pp.LineEnd().suppress()` to handle line ends.")
    ('Define `NL = pp.LineEnd().suppress()` to handle line ends.',)
    """
    urls: list[str] = []

    def hide(match):
        urls.append(match.group(0))
        return f"urlplaceholder{len(urls) - 1}x"

    hidden = _UNSPLIT.sub(hide, text)
    out = []
    for segment in _segmenter().segment(hidden):
        # pysbd keeps a line break inside a segment when the line has no stop.
        for line in segment.splitlines():
            line = " ".join(line.split())
            if line:
                out.append(_PLACEHOLDER.sub(lambda m: urls[int(m.group(1))], line))
    return tuple(out)


def ends_sentence(reply: str) -> bool:
    """Whether the reply (citations aside) ends a sentence.

    >>> ends_sentence("Click Submit. [1]"), ends_sentence('Click " Submit " and [1]')
    (True, False)
    """
    text = _CITE.sub("", reply).strip()
    return bool(text) and text[-1] in _END


def with_stop(sentence: str) -> str:
    """The sentence, ending with a full stop if it is prose that ends with none (a
    heading, a list item); code, commands and values are kept verbatim.

    >>> with_stop("Install the package"), with_stop("pip install pypdf[crypto]")
    ('Install the package.', 'pip install pypdf[crypto]')
    """
    if sentence[-1] in _END or not sentence[-1].isalpha() or looks_like_code(sentence):
        return sentence
    return sentence + "."


def trigrams(text: str) -> set:
    words = _WORD.findall(_CITE.sub(" ", text).lower())
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def has_repeated_trigram(text: str) -> bool:
    words = _WORD.findall(_CITE.sub(" ", text).lower())
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return len(grams) != len(set(grams))


def lexical_similarity(question: str, sentences: Sequence[str]) -> np.ndarray:
    """Share of the question's content words in each sentence (no encoder)."""
    from lepton_tf.assistant.grounding import _words

    asked = _words(question)
    return np.array([len(asked & _words(s)) / max(len(asked), 1) for s in sentences],
                    np.float32)


def extractive_answer(question: str, passages: list, similarity: Callable | None = None,
                      said: str = "", focus: str = "") -> tuple[str, list[int]]:
    """`(reply with [n] after each sentence, cited passage numbers in order)`.

    Args:
        question: what the sentences must answer (a follow-up: rewritten with
            the previous question).
        passages: the shown `RetrievedPassage`s, numbered from 1.
        similarity: `(question, sentences) -> scores` (None: lexical overlap).
        said: the previous reply (its sentences are not said again if others fit).
        focus: the follow-up as typed; its similarity is added to the question's.

    Returns:
        `("", [])` when the passages hold no sentence.
    """
    similarity = similarity or lexical_similarity
    candidates = [(n, i, s) for n, p in enumerate(passages, 1)
                  for i, s in enumerate(split_sentences(p.text)[:MAX_CANDIDATES])
                  if not markup_only(s)]
    if not candidates:
        return "", []
    texts = [s for _, _, s in candidates]
    scores = np.asarray(similarity(question, texts), np.float32)
    if focus:
        scores = scores + np.asarray(similarity(focus, texts), np.float32)
    scores = scores + np.array([OPENING_BONUS * (i == 0) + PASSAGE_WEIGHT
                                * passages[n - 1].score for n, i, _ in candidates], np.float32)
    # The best sentence is chosen by answer-likeness too; the sentences that
    # follow it are judged against its similarity alone (a bonus it earned as
    # the answer would otherwise cut the steps after it).
    base = scores
    scores = scores + answer_likeness(question, candidates, passages)
    said_sentences = {" ".join(s.split()) for s in split_sentences(_CITE.sub("", said))}
    order = sorted(range(len(candidates)), key=lambda j: -scores[j])
    fresh = [j for j in order if texts[j] not in said_sentences
             and not has_repeated_trigram(texts[j])]
    if not fresh or scores[fresh[0]] < MIN_FOLLOW_RATIO * scores[order[0]]:
        fresh = [j for j in order if not has_repeated_trigram(texts[j])]  # say it again
    best = (fresh or order)[0]
    n, i, _ = candidates[best]
    chosen = standalone_run(candidates, best)
    if chosen is None:  # nothing it leans on is at hand: the passage's opening instead
        return opening_reply(passages[n - 1], n), [n]
    grams = set().union(*(trigrams(texts[j]) for j in chosen))
    length = sum(len(texts[j]) for j in chosen)
    for j in range(chosen[-1] + 1, len(candidates)):
        if len(chosen) >= MAX_SENTENCES or candidates[j][0] != n:
            break
        announced = introduces(texts[chosen[-1]])  # "Run:" is nothing without what follows
        if not announced and (base[j] < MIN_FOLLOW_RATIO * base[best]
                              or length + len(texts[j]) > MAX_CHARS):
            break
        if trigrams(texts[j]) & grams or has_repeated_trigram(texts[j]):
            continue
        chosen.append(j)
        grams |= trigrams(texts[j])
        length += len(texts[j])
    # Another passage's best sentence joins when it answers (nearly) as well.
    other = next((j for j in fresh if candidates[j][0] != n), None)
    if (other is not None and scores[other] >= OTHER_PASSAGE_RATIO * scores[best]
            and length + len(texts[other]) <= MAX_CHARS and not trigrams(texts[other]) & grams):
        chosen.append(other)
    if len(chosen) > 1 and introduces(texts[chosen[-1]]) and candidates[chosen[-1]][0] == n:
        chosen.pop()  # it would announce what the reply does not hold
    reply = _cited(texts, candidates, chosen)
    return reply, list(dict.fromkeys(candidates[j][0] for j in chosen))


def _cited(texts, candidates, chosen) -> str:
    """The chosen sentences, one `[n]` after each passage's run of them."""
    reply = ""
    for k, j in enumerate(chosen):
        n = candidates[j][0]
        last_of_run = k + 1 == len(chosen) or candidates[chosen[k + 1]][0] != n
        if reply:  # code keeps its own lines
            reply += "\n" if code_line(texts[j]) or code_line(texts[chosen[k - 1]]) else " "
        reply += with_stop(texts[j]) + (f" [{n}]" if last_of_run else "")
    return reply


def standalone_run(candidates: list, best: int) -> list[int] | None:
    """The smallest run of sentences ending at `best` whose first stands alone.

    A sentence that leans back ("i.e.", "Otherwise") needs the sentences
    before it up to one that stands; a line of code or a command is given
    the prose that introduces it when there is some, else it stands alone.

    Args:
        candidates: `(passage number, sentence index, text)` in passage order.
        best: the index of the sentence that answers best.

    Returns:
        Candidate indices in order, or None when a sentence that leans back
        has nothing to lean on among the sentences scored.
    """
    start, only_code = best, True
    for _ in range(MAX_LEAN_BACK + 1):
        n, i, text = candidates[start]
        if leans_back(text):
            only_code = False
        elif not code_line(text):
            return list(range(start, best + 1))
        if i == 0 or start == 0 or candidates[start - 1][0] != n:
            break
        start -= 1
    return [best] if only_code else None


def opening_reply(passage, n: int) -> str:
    """The passage's opening lines, quoted, and where to read on.

    Args:
        passage: the best passage.
        n: its number among the shown ones.

    Returns:
        e.g. `Install ... [1] (The opening of source 1 ("Setup"): open it for
        the rest.)`
    """
    opening = ""
    for line in passage.text.strip().splitlines():
        line = " ".join(line.split())
        if not line:
            if opening:
                break
            continue
        if opening and len(opening) + len(line) > OPENING_CHARS:
            break
        opening = f"{opening} {line}".strip()
    sentences = list(split_sentences(opening))
    if len(sentences) > 1 and sentences[0][:1].islower():
        sentences.pop(0)  # a window that starts mid-sentence: from the next one
    if sentences:
        opening = " ".join(sentences)
    if len(opening) > OPENING_CHARS:
        opening = sentences[0] if sentences else opening[:OPENING_CHARS].rsplit(" ", 1)[0]
    title = " ".join(passage.title.split())
    named = f' ("{title}")' if title else ""
    # The framing comes after the marker: `[n]` vouches only for the passage's words.
    return f"{opening} [{n}] (The opening of source {n}{named}: open it for the rest.)"

