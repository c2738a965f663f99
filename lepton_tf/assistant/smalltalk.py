"""Greetings, thanks, goodbyes: answered from the knowledge base's texts, not a model.

The chat model was trained on task dialogues (SGD): a greeting after a
search turn is not what it reads well, and its reply is a booking
question. A turn whose encoder similarity to one of `TURNS` reaches the
router's `chitchat_threshold` is small talk; the category of its nearest
reference turn picks the reply (`KnowledgeBase.greeting`, `thanks`,
`goodbye` or `help`).
"""

from __future__ import annotations

TURNS = {"greeting": ["Hi!", "Hello there.", "Hey, how are you?", "Good morning!",
                      "Good evening."],
         "thanks": ["Thanks a lot!", "Thank you.", "Great, thanks.", "Nice, great."],
         "goodbye": ["Goodbye.", "Bye!", "Thank you, bye.", "That's all, bye."],
         "help": ["Can you help me?", "What can you do?"]}


def reference() -> tuple[list[str], list[str]]:
    """`(turns, their categories)` flattened."""
    turns = [t for ts in TURNS.values() for t in ts]
    return turns, [c for c, ts in TURNS.items() for _ in ts]


def reply(knowledge_base, category: str) -> str:
    """The small-talk reply of `category` for `knowledge_base`."""
    return knowledge_base.text(category if category in TURNS else "help")
