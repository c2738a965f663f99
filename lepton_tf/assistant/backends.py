"""How the assistant reaches `intent`, `search`, `chat` and `encoder`: in process.

`ServerBackends` calls the other servables of the same lepton-tf server
through its model manager (`inference.predict_arrays`, as
`search/wiring.py` does for the encoder), so a turn costs no network
hop and every call gets the server's checks. A servable that is not hosted
(e.g. no `intent` model) is a missing signal, not an error: the router
works without it.
"""

from __future__ import annotations

import collections
import logging
import random
import threading

import numpy as np

from lepton_tf.assistant import smalltalk
from lepton_tf.assistant.grounding import RetrievedPassage
from lepton_tf.assistant.routing import IntentResult
from lepton_tf.contracts import chat as chat_contract
from lepton_tf.contracts import encoder as encoder_contract
from lepton_tf.contracts import intent as intent_contract
from lepton_tf.contracts import search as search_contract
from lepton_tf.server.errors import ServingError, stops_work
from lepton_tf.text.length_batches import length_sorted_batches

log = logging.getLogger(__name__)
DIALOGUE_SAMPLE = 1000  # SGD user turns in the dialogue reference set
SENTENCE_CACHE = 20_000  # passage sentences whose embeddings are kept (LRU)
# SGD dialogues open with a request, not a greeting: small talk joins the reference set.
CHITCHAT_TURNS, CHITCHAT_CATEGORIES = smalltalk.reference()


def _strings(values) -> np.ndarray:
    batch = np.empty(len(values), dtype=object)
    batch[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
    return batch


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _unless_stopped(error: ServingError) -> None:
    """Raises `error` again if it is a deadline or a cancellation (the turn stops);
    otherwise logs it (the model is missing: the score is None)."""
    if stops_work(error):
        raise error
    log.debug("encoder unavailable: %s", error.message)


def intent_domain_requests(n: int = DIALOGUE_SAMPLE, seed: int = 0) -> list[str]:
    """A fixed random sample of the intent model's training requests (Banking77 train:
    the domain the assistant refuses); [] when the data is not there."""
    from lepton_tf.data.banking77 import read_banking77

    try:
        texts = sorted({e.text for e in read_banking77("train")})
    except (OSError, ValueError) as e:
        log.warning("no intent domain reference (%s): routing without the domain score", e)
        return []
    return random.Random(seed).sample(texts, min(n, len(texts)))


def sgd_user_turns(n: int = DIALOGUE_SAMPLE, split: str = "dev", seed: int = 0) -> list[str]:
    """A fixed random sample of Schema-Guided Dialogue user turns (dev: 1 s to read,
    train: 6 s; the calibration scores on test turns)."""
    from lepton_tf.data.sgd import read_sgd_dialogues

    turns = sorted({t.utterance for d in read_sgd_dialogues(split) for t in d.turns
                    if t.speaker == "USER"})
    return random.Random(seed).sample(turns, min(n, len(turns)))


class ServerBackends:
    """The servables of one `ModelServer`, called in process.

    Args:
        manager: the server's `ModelManager`.
        names: model names: `intent`, `search`, `chat`, `encoder`.
        dialogue_turns: reference user turns for the dialogue score (None:
            a sample of SGD dev user turns plus `CHITCHAT_TURNS`, embedded
            on first use; []: no dialogue score).
        max_new_tokens: how `chat` is asked (None: its `serving_default` defaults).
        smalltalk_turns: `(turns, categories)` for the small-talk score (None:
            `smalltalk.TURNS`; `([], [])`: no small-talk score).
        domain_turns: the intent domain's reference requests (None: a sample of
            Banking77 train, embedded on first use, when `dialogue_turns` is the
            default SGD sample too, else none; []: no domain score).
    """

    def __init__(self, manager, names: dict | None = None, dialogue_turns: list | None = None,
                 max_new_tokens: int | None = None, smalltalk_turns: tuple | None = None,
                 domain_turns: list | None = None):
        self.manager = manager
        self.names = {intent_contract.MODEL: intent_contract.MODEL,
                      search_contract.MODEL: search_contract.MODEL,
                      chat_contract.MODEL: chat_contract.MODEL,
                      encoder_contract.MODEL: encoder_contract.MODEL, **(names or {})}
        self.max_new_tokens = max_new_tokens
        self._dialogue_turns = dialogue_turns
        self._chitchat_turns, self._chitchat_categories = smalltalk_turns or \
            (CHITCHAT_TURNS, CHITCHAT_CATEGORIES)
        self._dialogue_vectors = None
        # A custom dialogue reference goes with a custom domain reference, or none.
        self._domain_turns = domain_turns if domain_turns is not None or \
            dialogue_turns is None else []
        self._domain_vectors = None
        self._chitchat_vectors = None
        self._last_embedding = ("", None)  # the turn both scores embed, embedded once
        self._lock = threading.Lock()
        self._sentence_vectors: collections.OrderedDict = collections.OrderedDict()

    def _predict(self, model: str, signature: str, inputs: dict, outputs: list) -> dict:
        from lepton_tf.server import inference

        with self.manager.servable(self.names[model]) as servable:
            _, result = inference.predict_arrays(servable, signature, inputs, outputs)
        return result

    def versions(self) -> dict:
        """Role (`intent`, `search`, `chat`, `encoder`) -> the version serving it now."""
        available = {}
        for name, version in self.manager.available():
            available[name] = max(version, available.get(name, version))
        return {role: available[name] for role, name in self.names.items() if name in available}

    def has(self, model: str) -> bool:
        try:
            with self.manager.servable(self.names[model]):
                return True
        except ServingError:
            return False

    def intent(self, text: str) -> IntentResult | None:
        """The intent of `text`; `out_of_scope` None when the model has no such output."""
        return (self.intents([text]) or [None])[0]

    def intents(self, texts: list[str]) -> list[IntentResult] | None:
        try:
            with self.manager.servable(self.names[intent_contract.MODEL]) as servable:
                outputs = servable.signatures[intent_contract.SIGNATURE].outputs
        except (ServingError, KeyError) as e:
            log.debug("intent unavailable: %s", e)
            return None
        wanted = [k for k in intent_contract.OUTPUTS if k in outputs]
        out = self._predict(intent_contract.MODEL, intent_contract.SIGNATURE,
                            {intent_contract.TEXT: _strings(texts)}, wanted)
        oos = out[intent_contract.OUT_OF_SCOPE].reshape(-1) \
            if intent_contract.OUT_OF_SCOPE in out else [None] * len(texts)
        return [IntentResult(_text(i), float(np.max(p)), None if o is None else bool(o))
                for i, p, o in zip(out[intent_contract.INTENT].reshape(-1),
                                   out[intent_contract.PROBABILITIES], oos)]

    def search_request(self, queries: list[str], k: int) -> tuple[str, dict]:
        """The `search` signature and inputs the assistant asks with: dense
        mode (`search_options`) where the servable has modes, since the
        routing threshold is calibrated on cosine scores, not fused ones."""
        inputs = {search_contract.QUERY: _strings(queries),
                  search_contract.K: np.array(k, np.int32)}
        try:
            with self.manager.servable(self.names[search_contract.MODEL]) as servable:
                has_modes = search_contract.OPTIONS_SIGNATURE in servable.signatures
        except ServingError:
            has_modes = False
        if not has_modes:
            return search_contract.K_SIGNATURE, inputs
        return search_contract.OPTIONS_SIGNATURE, dict(
            inputs, **{search_contract.MODE: np.array(b"dense", object),
                       search_contract.FILTER: np.array(b"", object)})

    def search(self, query: str, k: int) -> tuple[list[RetrievedPassage], bool | None]:
        """`(passages, not_found)`: the search servable's flag (None: it has none)."""
        signature, inputs = self.search_request([query], k)
        with self.manager.servable(self.names[search_contract.MODEL]) as servable:
            outputs = servable.signatures[signature].outputs
        # The flag and the metadata (with a hit's known questions) where the servable has them.
        wanted = [search_contract.DOC_IDS, search_contract.SCORES, search_contract.TEXTS,
                  search_contract.TITLES] + [name for name in (search_contract.METADATA,
                                                              search_contract.NOT_FOUND)
                                             if name in outputs]
        out = self._predict(search_contract.MODEL, signature, inputs, wanted)
        passages = [RetrievedPassage(h.doc_id, h.title, h.text, h.score, h.known_questions,
                                     h.metadata)
                    for h in search_contract.unpack_hits(out)[0]]
        not_found = search_contract.unpack_not_found(out)
        return passages, not_found[0] if not_found is not None else None

    def readable(self, doc_ids: list[str]) -> list[str]:
        """Which of `doc_ids` the calling principal may read now: asked of the
        `search` servable (a `doc_id` filter under the caller's permission), so a
        permission revoked since a passage was shown takes effect at once.

        Raises:
            ServingError: no search servable with filters (`search_options`).
        """
        if not doc_ids:
            return []
        with self.manager.servable(self.names["search"]) as servable:
            if "search_options" not in servable.signatures:
                return list(doc_ids)  # a search without filters has no permissions either
        import json

        unique = list(dict.fromkeys(doc_ids))
        inputs = {"query": _strings(["permission check"]), "k": np.array(len(unique), np.int32),
                  "mode": np.array(b"dense", object),
                  "filter": np.array(json.dumps({"doc_id": unique}).encode(), object)}
        out = self._predict("search", "search_options", inputs, ["doc_ids"])
        return [_text(d) for d in out["doc_ids"][0] if _text(d)]

    def similarity(self, question: str, sentences: list[str]) -> np.ndarray:
        """Cosine similarity of `question` (query tower) to each sentence (document
        tower) of the `encoder`.

        Raises:
            ServingError: no encoder.
        """
        with self.manager.servable(self.names[encoder_contract.MODEL]) as servable:
            tower = encoder_contract.DOCUMENT_SIGNATURE \
                if encoder_contract.DOCUMENT_SIGNATURE in servable.signatures \
                else encoder_contract.QUERY_SIGNATURE
            key = (servable.name, servable.version)
        with self._lock:  # passages come back: their sentences are embedded once
            known = {s: self._sentence_vectors.get((key, s)) for s in sentences}
        todo = [s for s, v in known.items() if v is None]
        if todo:
            for s, v in zip(todo, self.embed(todo, tower)):
                known[s] = v
            with self._lock:
                for s in todo:
                    self._sentence_vectors[(key, s)] = known[s]
                    self._sentence_vectors.move_to_end((key, s))
                while len(self._sentence_vectors) > SENTENCE_CACHE:
                    self._sentence_vectors.popitem(last=False)
        return np.stack([known[s] for s in sentences]) @ self.embed([question])[0]

    def chat(self, context: str) -> str:
        inputs = {chat_contract.CONTEXT: _strings([context])}
        signature = chat_contract.DEFAULT_SIGNATURE
        if self.max_new_tokens is not None:
            signature = chat_contract.GENERATE_SIGNATURE
            values = dict(chat_contract.GENERATE_DEFAULTS, max_new_tokens=self.max_new_tokens)
            for key, dtype in chat_contract.GENERATE_OPTIONS:
                inputs[key] = np.array(values[key], dtype)
        out = self._predict(chat_contract.MODEL, signature, inputs, [chat_contract.REPLY])
        return _text(out[chat_contract.REPLY].reshape(-1)[0])

    def embed(self, texts: list[str],
              signature: str = encoder_contract.QUERY_SIGNATURE) -> np.ndarray:
        out = self._predict(encoder_contract.MODEL, signature,
                            {encoder_contract.TEXT: _strings(texts)}, [encoder_contract.EMBEDDING])
        return np.asarray(out[encoder_contract.EMBEDDING], np.float32)

    def _reference(self) -> np.ndarray | None:
        with self._lock:
            if self._dialogue_vectors is None:
                turns = sgd_user_turns() + CHITCHAT_TURNS if self._dialogue_turns is None \
                    else self._dialogue_turns
                if not turns:
                    return None
                self._dialogue_vectors = self._embed_reference(turns)
            return self._dialogue_vectors

    def _embed_reference(self, turns: list[str]) -> np.ndarray:
        """A reference set's vectors (`[0, 0]` for none), embedded in batches of similar
        length (little padding). Only a turn's best match is read, so the rows stay in
        that length order."""
        if not turns:
            return np.zeros((0, 0), np.float32)
        return np.concatenate([self.embed([turns[i] for i in rows])
                               for rows in length_sorted_batches(turns, 64)])

    def _embed_turn(self, text: str) -> np.ndarray:
        with self._lock:
            last_text, vector = self._last_embedding
        if vector is None or last_text != text:
            vector = self.embed([text])[0]
            with self._lock:
                self._last_embedding = (text, vector)
        return vector

    def dialogue_score(self, text: str) -> float | None:
        """Max cosine between `text` and the SGD reference turns (None: no encoder)."""
        try:
            reference = self._reference()
            if reference is None:
                return None
            return float(np.max(reference @ self._embed_turn(text)))
        except ServingError as e:
            _unless_stopped(e)
            return None

    def domain_score(self, text: str) -> float | None:
        """Max cosine between `text` and the intent domain's reference requests (None:
        no encoder, or no reference)."""
        try:
            with self._lock:
                if self._domain_vectors is None:
                    turns = intent_domain_requests() if self._domain_turns is None \
                        else self._domain_turns
                    self._domain_vectors = self._embed_reference(turns)
                reference = self._domain_vectors
            if not len(reference):
                return None
            return float(np.max(reference @ self._embed_turn(text)))
        except ServingError as e:
            _unless_stopped(e)
            return None

    def smalltalk(self, text: str) -> tuple[str, float] | None:
        """`(category, score)`: the nearest small-talk turn's category and its cosine
        (None: no encoder, or no small-talk reference)."""
        try:
            if not self._chitchat_turns:
                return None
            with self._lock:
                if self._chitchat_vectors is None:
                    self._chitchat_vectors = self.embed(self._chitchat_turns)
                reference = self._chitchat_vectors
            scores = reference @ self._embed_turn(text)
            best = int(np.argmax(scores))
            return self._chitchat_categories[best], float(scores[best])
        except ServingError as e:
            _unless_stopped(e)
            return None
