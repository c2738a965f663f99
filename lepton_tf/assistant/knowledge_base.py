"""What the assistant says about its knowledge base: a config file beside the index.

`lepton-tf index` writes `assistant.json` in the index's base folder (beside
the version folders) with these defaults, once: the file is the user's to
edit, and a rebuilt index keeps it. The assistant reads it when it starts
(`mount_assistant(server, knowledge_base=INDEX_DIR)`, `lepton-tf serve
--search_index DIR --assistant`).

```json
{"name": "StackFAQ",
 "description": "questions about web apps, from the StackFAQ answers",
 "greeting": "Hello! I can answer {description}, and help with bookings ...",
 ...}
```

`{name}` and `{description}` in the other texts are filled in.
"""

from __future__ import annotations

import dataclasses
import json
import os

FILE_NAME = "assistant.json"


@dataclasses.dataclass(frozen=True)
class KnowledgeBase:
    """The assistant's texts for one knowledge base.

    Attributes:
        name: what the knowledge base is called.
        description: what it answers, as a phrase ("questions about ...").
        greeting, thanks, goodbye, help: the small-talk replies.
        refusal: the reply to a turn the assistant cannot help with.
        not_found: the reply to a question the knowledge base holds no answer to
            (the closest matches are shown as sources and related questions).
    """

    name: str = "the knowledge base"
    description: str = "questions from {name}"
    greeting: str = ("Hello! I can answer {description}, and help with bookings such as "
                     "restaurants, hotels, flights and rental cars. What can I do for you?")
    thanks: str = "You're welcome! Anything else I can help with?"
    goodbye: str = "Goodbye, and have a nice day!"
    help: str = ("I can answer {description}, and help with bookings such as restaurants, "
                 "hotels, flights and rental cars.")
    refusal: str = ("Sorry, I can't help with that here. I can answer {description}, and help "
                    "with bookings such as restaurants, hotels, flights and rental cars.")
    not_found: str = ("I found nothing in {name} that answers this. These are the closest "
                      "matches.")

    def text(self, field: str) -> str:
        """The `field` text with `{name}` and `{description}` filled in."""
        description = self.description.format(name=self.name)
        return getattr(self, field).format(name=self.name, description=description)


def default_for(index_dir: str, corpus: str = "") -> KnowledgeBase:
    """Defaults named after the corpus folder (StackFAQ gets its own description)."""
    name = os.path.basename(os.path.normpath(corpus or index_dir)) or "documents"
    if name.lower() == "stackfaq":
        return KnowledgeBase("StackFAQ", "questions about web apps such as Facebook, "
                             "Gmail or YouTube, from the StackFAQ answers")
    return KnowledgeBase(name)


def load(index_dir: str | None) -> KnowledgeBase:
    """The config beside `index_dir` (defaults when there is none).

    Raises:
        ValueError: the file is not a JSON object of known string fields.
    """
    if not index_dir:
        return KnowledgeBase()
    path = os.path.join(index_dir, FILE_NAME)
    if not os.path.exists(path):
        return default_for(index_dir)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    known = {f.name for f in dataclasses.fields(KnowledgeBase)}
    if not isinstance(doc, dict) or set(doc) - known or \
            not all(isinstance(v, str) for v in doc.values()):
        raise ValueError(f"{path}: a JSON object of strings with keys among {sorted(known)}")
    return KnowledgeBase(**doc)


def write_default(index_dir: str, corpus: str = "") -> str:
    """Writes the default config beside the index unless one is there; its path."""
    path = os.path.join(index_dir, FILE_NAME)
    if not os.path.exists(path):
        os.makedirs(index_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dataclasses.asdict(default_for(index_dir, corpus)), f, indent=1)
            f.write("\n")
    return path
