"""What one assistant turn answers, and how its cited passages are shown."""

from __future__ import annotations

import dataclasses
import re

from lepton_tf.assistant.grounding import RetrievedPassage


@dataclasses.dataclass
class TurnResult:
    """What one turn answers; the servable's outputs, the stream's final message."""

    reply: str
    route: str
    intent: str
    citations: list = dataclasses.field(default_factory=list)  # Passages cited, in order
    cited_by: str = ""  # "extractive" (whole sentences of the passages) or ""
    related_questions: list = dataclasses.field(default_factory=list)
    timings_ms: dict = dataclasses.field(default_factory=dict)  # intent, search, chat, total
    search_score: float = 0.0
    not_found: bool = False  # a search turn the knowledge base holds no answer to
    turn_id: str = ""  # names the turn in the log (feedback rates it by this id)
    task: dict = dataclasses.field(default_factory=dict)  # `tasks.TaskTurn.to_json()`
    handoff: bool = False  # a person is to take the conversation over (an intent skill)

    def to_dict(self) -> dict:
        return {"turn_id": self.turn_id, "reply": self.reply, "route": self.route,
                "intent": self.intent, "task": self.task, "handoff": self.handoff,
                "cited_by": self.cited_by, "search_score": self.search_score,
                "not_found": self.not_found,
                "citations": [citation_dict(n, p) for n, p in self.citations],
                "related_questions": self.related_questions, "timings_ms": self.timings_ms}


def citation_dict(number: int, passage: RetrievedPassage) -> dict:
    """One source as the sources event and the final event show it.

    Args:
        number: its number in the reply (`[number]`).
        passage: the retrieved passage.

    Returns:
        `{"n", "doc_id", "title", "snippet", "score"}`.
    """
    return {"n": number, "doc_id": passage.doc_id, "title": passage.title,
            "snippet": passage.snippet(), "score": round(passage.score, 4)}


def word_chunks(text: str) -> list[str]:
    """`text` in word-sized pieces whose concatenation is `text`."""
    return re.findall(r"\S+\s*", text)
