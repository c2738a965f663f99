"""Fakes that reproduce how the real models behave in a mixed conversation, and the
checks a user's conversation must pass.

- `KeywordEncoder`: a bag of keywords (one dimension per keyword group, plus a
  small bias so no vector is zero), L2-normalised: cosine similarity says
  how many topic words two texts share;
- `KbSearch`: the `search` contract over `KB`, four StackFAQ-like answers of
  several sentences each (one with a URL), with the `not_found` output;
- `CopyingChat`: like the shipped chat model (a copy head over the context),
  it copies what it reads: given passages it quotes the first words of
  passage 1 and cites `[1]`, cut mid-sentence; given an earlier assistant
  turn that quotes a passage (it carries a `[n]`) it copies that turn, in a
  loop; otherwise it answers a task request the way an SGD-trained model does;
- `BankingIntent`: like the shipped Banking77 model, it is confident about
  card words and also claims "Hi there!" and a rental car.

`check_conversation` asserts those properties on a conversation's turns.
"""

import re

import numpy as np

from lepton_tf.server.servable import Servable, Signature, TensorSpec

KEYWORDS = [("delete", "deleting", "deletion"), ("facebook",), ("account",),
            ("strikethrough", "strike"), ("github",), ("markdown",), ("youtube",),
            ("autoplay",), ("phone", "mobile", "app"), ("gmail",), ("password",),
            ("filter", "filters"), ("hi", "hello", "hey"), ("thanks", "thank"),
            ("bye", "goodbye"), ("table", "restaurant", "italian", "dinner"),
            ("hotel", "room"), ("car", "rental"), ("flight", "fly"), ("card",), ("pin",)]
KB = [
    ("fb-1", "How do I delete my Facebook account?",
     "Go here: http://www.facebook.com/help/delete_account and click Submit. "
     "Facebook waits 14 days before deleting for good. Log in within those days "
     "to cancel the deletion."),
    ("md-1", "Strikethrough in GitHub markdown",
     "I just used the following syntax <del>old</del> and it did not render. "
     "Use ~~tildes around the words~~ to strike them through in GitHub markdown."),
    ("yt-1", "How to turn off YouTube autoplay?",
     "Open any video and switch the Autoplay toggle next to Up next. YouTube keeps the "
     "setting in your browser. On a phone, open the YouTube app, tap your picture, "
     "Settings, and turn Autoplay off."),
    ("gm-1", "Create Gmail filters",
     "Open Gmail Settings and choose Filters. Click Create a new filter, type what "
     "to match, then say what happens to those messages."),
]
DIALOGUE_TURNS = ["I'd like to book a table at a restaurant for dinner.",
                  "Find me a hotel room please.", "I need a rental car.",
                  "Book me a flight."]
# The intent model's domain (its training requests): what the assistant refuses.
DOMAIN_TURNS = ["My card has not arrived yet.", "How do I change my card PIN?",
                "Why was my card payment declined?"]
NOT_FOUND_THRESHOLD = 0.75  # KbSearch flags a query whose best score is below this


def keyword_vectors(texts) -> np.ndarray:
    rows = []
    for text in texts:
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        words = re.findall(r"[a-z]+", text.lower())
        rows.append([sum(w in group for w in words) for group in KEYWORDS] + [0.05])
    v = np.array(rows, np.float32).reshape(-1, len(KEYWORDS) + 1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class _Fake(Servable):
    def __init__(self, name, signatures):
        self.name, self.version, self._signatures = name, 1, signatures

    @property
    def signatures(self):
        return self._signatures


class KeywordEncoder(_Fake):
    def __init__(self):
        sig = Signature({"text": TensorSpec("text", "string", (None,))},
                        {"embedding": TensorSpec("embedding", "float32",
                                                 (None, len(KEYWORDS) + 1))})
        super().__init__("encoder", {"serving_default": sig, "encode_query": sig,
                                     "encode_document": sig})

    def run(self, signature_name, inputs):
        return {"embedding": keyword_vectors(inputs["text"])}


class KbSearch(_Fake):
    def __init__(self):
        outs = {k: TensorSpec(k, "float32" if k == "scores" else "string", (None, None))
                for k in ("doc_ids", "scores", "texts", "titles")}
        outs["not_found"] = TensorSpec("not_found", "bool", (None,))
        q = TensorSpec("query", "string", (None,))
        super().__init__("search", {
            "serving_default": Signature({"query": q}, outs),
            "search": Signature({"query": q, "k": TensorSpec("k", "int32", ())}, outs)})
        self.vectors = keyword_vectors([f"{t} {x}" for _, t, x in KB])

    def run(self, signature_name, inputs):
        k = min(int(inputs["k"]) if "k" in inputs else 2, len(KB))
        scores = keyword_vectors(list(inputs["query"])) @ self.vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        pick = lambda col: np.array([[KB[i][col].encode() for i in row]
                                     for row in order], object)
        top = np.take_along_axis(scores, order, axis=1).astype(np.float32)
        return {"doc_ids": pick(0), "titles": pick(1), "texts": pick(2), "scores": top,
                "not_found": top[:, 0] < NOT_FOUND_THRESHOLD}


TASK_REPLIES = [("table", "Sure, what time would you like the booking?"),
                ("restaurant", "Sure, what time would you like the booking?"),
                ("hotel", "Which city should I look in?"),
                ("car", "Where would you like to pick it up?"),
                ("flight", "Where are you flying from?")]


class CopyingChat(_Fake):
    def __init__(self):
        ctx = {"context": TensorSpec("context", "string", (None,))}
        super().__init__("chat", {"serving_default": Signature(
            ctx, {"reply": TensorSpec("reply", "string", (None,))})})
        self.seen = []

    def reply(self, context: str) -> str:
        if "[DOC]" in context:
            passage = context.split("[DOC] [1]", 1)[1].split(":", 1)[1]
            return " ".join(passage.split()[:9]) + " [1]"
        turns = re.split(r"\[(USER|SYSTEM)\]", context)[1:]
        pairs = list(zip(turns[::2], (t.strip() for t in turns[1::2])))
        quoted = [t for s, t in pairs if s == "SYSTEM" and re.search(r"\[\d\]", t)]
        if quoted:  # the copy head latches onto the quoted passage, and loops
            words = re.sub(r"\[\d\]", "", quoted[-1]).split()
            return " ".join(words[:5] + words[3:5] * 3)
        last = pairs[-1][1].lower() if pairs else ""
        return next((r for k, r in TASK_REPLIES if k in last), "Okay, anything else?")

    def run(self, signature_name, inputs):
        contexts = [c.decode("utf-8") for c in inputs["context"]]
        self.seen.extend(contexts)
        return {"reply": np.array([self.reply(c).encode() for c in contexts], object)}


class BankingIntent(_Fake):
    CLAIMS = {"transfer": "transfer_into_account", "dollars": "transfer_into_account",
              "card": "card_arrival", "pin": "change_pin", "hi": "card_payment_not_recognised",
              "rental": "card_payment_not_recognised"}

    def __init__(self):
        outs = {"intent": TensorSpec("intent", "string", (None,)),
                "probabilities": TensorSpec("probabilities", "float32", (None, 2)),
                "out_of_scope": TensorSpec("out_of_scope", "bool", (None,))}
        super().__init__("intent", {"serving_default": Signature(
            {"text": TensorSpec("text", "string", (None,))}, outs)})

    def run(self, signature_name, inputs):
        labels, oos, probs = [], [], []
        for text in inputs["text"]:
            words = re.findall(r"[a-z]+", text.decode().lower())
            label = next((v for k, v in self.CLAIMS.items() if k in words), None)
            labels.append((label or "greeting").encode())
            oos.append(label is None)
            probs.append([0.9, 0.1] if label else [0.5, 0.5])
        return {"intent": np.array(labels, object), "out_of_scope": np.array(oos),
                "probabilities": np.array(probs, np.float32)}


def conversation_models():
    return {"encoder": KeywordEncoder(), "search": KbSearch(), "chat": CopyingChat(),
            "intent": BankingIntent()}


# The user's script: (message, what it is).
SCRIPT = [("How do I delete my Facebook account?", "search"),
          ("Hi there!", "smalltalk"),
          ("Book a table for two at an Italian place in San Jose tonight at 7", "service"),
          ("Thanks!", "smalltalk"),
          ("How do I turn off YouTube autoplay?", "search"),
          ("and on my phone?", "followup"),
          ("How do I change my Gmail password?", "unanswerable"),
          ("I need a rental car in Fresno", "service"),
          ("Goodbye", "smalltalk")]
_WORD = re.compile(r"[a-z0-9]+")
_CITE = re.compile(r"\[\d{1,2}\]")


def content_words(text: str) -> set:
    from lepton_tf.assistant.grounding import _STOP

    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def trigrams(text: str) -> list:
    words = _WORD.findall(_CITE.sub(" ", text).lower())
    return [tuple(words[i:i + 3]) for i in range(len(words) - 2)]


def ends_sentence(reply: str) -> bool:
    text = _CITE.sub("", reply).strip()
    return bool(text) and text[-1] in ".!?)\"'"


def own_words(knowledge_base=None) -> set:
    """Content words of the assistant's own texts (its greeting, refusal, ...)."""
    import dataclasses

    from lepton_tf.assistant.knowledge_base import KnowledgeBase

    knowledge_base = knowledge_base or KnowledgeBase()
    return set().union(*(content_words(knowledge_base.text(f.name))
                         for f in dataclasses.fields(knowledge_base)))


def check_conversation(turns) -> None:
    """Asserts a conversation's properties on `turns`: dicts with `message`, `kind` (the
    script's), `reply`, `route`, `intent`, `not_found` and `shown` (the
    `(title, text)` of the passages the turn showed). A word of a passage shown
    earlier leaks into a chat turn unless the user said it or it is one of the
    assistant's own texts."""
    shown_words, user_words, earlier_users = set(), own_words(), []
    for turn in turns:
        reply, kind, where = turn["reply"], turn["kind"], f"{turn['message']!r} -> {turn['reply']!r}"
        user_words |= content_words(turn["message"])
        grams = trigrams(reply)
        assert len(grams) == len(set(grams)), f"repeated 3-gram: {where}"
        if kind in ("smalltalk", "service"):
            assert turn["route"] not in ("search", "out_of_scope"), f"routed {turn['route']}: {where}"
            assert not _CITE.search(reply), f"chat turn carries a citation: {where}"
            leaked = (content_words(reply) & shown_words) - user_words
            assert not leaked, f"chat turn leaks {sorted(leaked)} of earlier passages: {where}"
            for earlier in earlier_users:
                assert not set(trigrams(earlier)) & set(grams), f"echoes {earlier!r}: {where}"
            if kind == "smalltalk":
                assert turn["intent"] == "", f"intent {turn['intent']!r} shown: {where}"
        if kind in ("search", "followup"):
            assert turn["route"] == "search" and not turn["not_found"], where
            assert ends_sentence(reply), f"search reply ends mid-sentence: {where}"
            assert _CITE.search(reply), f"search reply without a citation: {where}"
        if kind == "followup":
            assert "phone" in reply.lower(), f"follow-up not answered in context: {where}"
        if kind == "unanswerable":
            assert turn["not_found"], f"unanswerable question answered: {where}"
            assert ends_sentence(reply), where
        for title, text in turn["shown"]:
            shown_words |= content_words(f"{title} {text}")
        earlier_users.append(turn["message"])
