"""Grounding: retrieved passages into the chat context, citations out of the reply.

The chat model reads one context string. Passages go first, marked and
numbered, then the dialogue:

    [DOC] [1] How do I delete my account?: Go to Settings ... [DOC] [2] ...
    [USER] how do i delete my facebook account

Citations are honest: when the reply contains `[n]` markers for shown
passages, those are the citations (`cited_by="model"`); otherwise the
assistant cites the shown passages the reply actually draws on, by the
content words (not in the question) it shares with them
(`cited_by="retrieval"`, markers appended). A reply that draws on no
passage (an ungrounded chat model answering from its dialogue habits) is
not passed off as grounded: the answer becomes an excerpt of the top
passage, cited `[1]` (`cited_by="extractive"`). Every citation is a
passage that was shown to the model and is returned with its snippet.
"""

from __future__ import annotations

import dataclasses
import re

from lepton_tf.ingest.passage import TITLE_SEPARATOR
from lepton_tf.text import chat_format

SNIPPET_CHARS = 240
_CITE = re.compile(r"\[(\d{1,2})\]")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("""a about after again all also am an and any are as at be been but by can
could did do does don for from get got had has have he her here him his how i if in into is it
its just like me more most much my need no not now of on one only or other our out over please
really she should so some sure than that the them then there these they this those to too up us
very want was we were what when where which who will with would yes yet you your""".split())
MIN_SHARED_WORDS = 2      # a reply draws on a passage when it shares this many content words
MIN_SHARED_FRACTION = 0.25  # and this share of its own content words
MIN_CITATION_SUPPORT = 0.5  # a model's `[n]` stands when passage n holds this share


@dataclasses.dataclass(frozen=True)
class RetrievedPassage:
    """One hit of the `search` servable as the assistant shows and cites it
    (`ingest.Passage` is what the index stores)."""

    doc_id: str
    title: str
    text: str
    score: float
    questions: tuple = ()  # the questions its document is known to answer (a FAQ's)
    # Where it comes from (`source`, `section`, `start`, ... of a folder's passage).
    metadata: dict = dataclasses.field(default_factory=dict, compare=False)

    def snippet(self, chars: int = SNIPPET_CHARS) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0] + " ..."


def build_context(passages: list[RetrievedPassage], turns: list[tuple[str, str]]) -> str:
    """The chat model's `context`: numbered passages, then the dialogue turns
    (the format is `lepton_tf.text.chat_format`'s)."""
    return chat_format.build_context([(p.title, p.text) for p in passages], turns)


def dialogue_context(turns: list[tuple[str, str]]) -> str:
    """The chat model's `context` without passages."""
    return chat_format.build_context([], turns)


def model_citations(reply: str, n_passages: int) -> list[int]:
    """1-based passage numbers the reply cites with `[n]`, in order, deduplicated."""
    seen: list[int] = []
    for match in _CITE.finditer(reply):
        n = int(match.group(1))
        if 1 <= n <= n_passages and n not in seen:
            seen.append(n)
    return seen


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def used_passages(reply: str, passages: list[RetrievedPassage], question: str = "",
                  max_citations: int = 2) -> list[int]:
    """1-based numbers of the passages the reply draws on, best first (maybe none).

    A passage counts when the reply shares content words with it that are
    not in the question (echoing the question proves nothing): at least
    `MIN_SHARED_WORDS`, `MIN_SHARED_FRACTION` of the reply's content words,
    and half as many as the best passage.
    """
    reply_words = _words(_CITE.sub(" ", reply)) - _words(question)
    overlaps = [(len(reply_words & _words(p.title + " " + p.text)), i)
                for i, p in enumerate(passages, 1)]
    best = max((overlap for overlap, _ in overlaps), default=0)
    enough = max(MIN_SHARED_WORDS, MIN_SHARED_FRACTION * len(reply_words), best / 2)
    used = [i for overlap, i in sorted(overlaps, key=lambda x: (-x[0], x[1]))
            if overlap >= enough]
    return used[:max_citations]


def citation_support(reply: str, passage: RetrievedPassage) -> float:
    """Share of the reply's content words (citations aside) found in the passage.

    >>> citation_support("Use tildes around words [1]",
    ...                  RetrievedPassage("a", "Strike", "Use ~~tildes around the words~~", 1.0))
    1.0
    """
    words = _words(_CITE.sub(" ", reply))
    if not words:
        return 1.0
    return len(words & _words(passage.title + " " + passage.text)) / len(words)


def cite(reply: str, passages: list[RetrievedPassage], question: str = "") -> tuple[list[int], str]:
    """`(passage numbers, how)` for a reply generated from `passages`.

    `how` is `model` (the reply's own `[n]`, kept only where passage n holds
    at least `MIN_CITATION_SUPPORT` of the reply's content words: a model
    can cite a passage and still say something else), `retrieval` (the
    passages it shares words with) or `extractive` (it drew on none: the
    caller answers with the top passage's text instead, see
    `extractive_reply`).
    """
    numbers = [n for n in model_citations(reply, len(passages))
               if citation_support(reply, passages[n - 1]) >= MIN_CITATION_SUPPORT]
    if numbers:
        return numbers, "model"
    numbers = used_passages(reply, passages, question)
    if numbers:
        return numbers, "retrieval"
    return ([1], "extractive") if passages else ([], "")


def extractive_reply(passage: RetrievedPassage) -> str:
    """The answer when the chat model did not use the passages: the top one's text."""
    return f"From \"{' '.join(passage.title.split())}\": {passage.snippet()}"


def grounded_reply(raw: str, passages: list[RetrievedPassage], question: str = ""
                   ) -> tuple[str, list[int], str]:
    """`(reply with [n] markers, cited numbers, how)` from the chat model's `raw` reply."""
    numbers, how = cite(raw, passages, question)
    if how == "extractive":
        return extractive_reply(passages[0]) + " [1]", numbers, how
    if how == "retrieval":
        raw = _CITE.sub("", raw).strip()  # its own [n] did not stand
        return raw + " " + "".join(f"[{n}]" for n in numbers), numbers, how
    return raw, numbers, how


def related_questions(passages: list[RetrievedPassage], exclude: int | None, limit: int = 3,
                      asked: str = "") -> list[str]:
    """Up to `limit` questions the retrieved passages answer, not the one cited first.

    A passage whose document lists known questions (a FAQ's phrasings, as
    the search servable returns them) offers its first one not asked yet;
    otherwise its title: StackFAQ titles are questions, and a file's heading
    path is asked about its section (`as_question`). Duplicates and the
    question just asked are skipped.

    >>> faq = RetrievedPassage("a", "Opening hours", "Nine to five.", 0.9,
    ...                        ("When does the office open?",))
    >>> related_questions([faq, RetrievedPassage("b", "Guide > Parking", "North.", 0.8)], None)
    ['When does the office open?', 'What about Parking, in Guide?']
    """
    out: list[str] = []
    seen = {_key(asked)}  # questions asked or offered
    titles = set()  # a passage of a document already offered (or cited) offers nothing new
    if exclude is not None and 1 <= exclude <= len(passages):
        cited = passages[exclude - 1]
        titles.add(_key(cited.title))
        seen.update(_key(q) for q in cited.questions)
    for i, passage in enumerate(passages, 1):
        if i == exclude or _key(passage.title) in titles:
            continue
        offered = [" ".join(q.split()) for q in passage.questions] + \
            [as_question(passage.title)]
        question = next((q for q in offered if q and _key(q) not in seen), None)
        if question is None:
            continue
        titles.add(_key(passage.title))
        seen.add(_key(question))
        out.append(question)
        if len(out) == limit:
            break
    return out


def _key(question: str) -> str:
    """A question as compared for repeats: case, spacing and its end mark aside."""
    return " ".join(question.lower().split()).rstrip(" ?.!")


def as_question(title: str) -> str:
    """A passage title as something to ask: a heading path becomes a question
    about its last section (in its top one), other titles stay as they are.

    >>> as_question("Global objects > Class: WritableStreamDefaultWriter")
    'What about Class: WritableStreamDefaultWriter, in Global objects?'
    >>> as_question("Beam YAML Join > Fields"), as_question("How do I reset it?")
    ('What about Fields, in Beam YAML Join?', 'How do I reset it?')
    """
    title = " ".join(title.split())
    parts = [p.strip() for p in title.split(TITLE_SEPARATOR.strip()) if p.strip()]
    if TITLE_SEPARATOR not in title or len(parts) < 2:
        return title
    section = parts[-1].rstrip(".:?")
    return f"What about {section}, in {parts[0]}?"
