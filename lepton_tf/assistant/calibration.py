"""Calibrating the routing thresholds on data.

Three labelled sets stand for the three routes:

- `search`: StackFAQ test queries (paraphrased web-app questions whose
  answers are in the index; the encoder never trained on them);
- `chat`: Schema-Guided Dialogue *test* user turns (task dialogue and
  chit-chat; the dialogue reference set is a sample of *train* turns);
- `out_of_scope`: Banking77 test queries (a domain with neither documents
  nor dialogue skills here).

Each set is split in two halves by a seeded shuffle: thresholds are chosen
on the first (the search threshold maximises the balanced accuracy of
search vs. the rest; then the dialogue threshold maximises the balanced
accuracy of chat vs. out of scope among the turns not routed to search) and
the full rule is scored on the second. With the intent domain's score
(similarity to the intent model's training requests), the margin threshold
maximises the balanced accuracy of chat vs. out of scope by `dialogue -
domain` among the turns not routed to search, and the dialogue floor is the
score under which `FLOOR_SHARE` of the chat turns fall.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from lepton_tf.assistant.routing import CHAT, OUT_OF_SCOPE, SEARCH, Router
from lepton_tf.contracts import search as search_contract

FLOOR_SHARE = 0.02


@dataclasses.dataclass
class Signals:
    """Per-text routing signals of one labelled set."""

    route: str
    texts: list
    search: np.ndarray
    dialogue: np.ndarray
    intents: list  # IntentResult | None
    domain: np.ndarray | None = None  # similarity to the intent domain's requests


def labelled_sets(n: int = 400, seed: int = 0) -> dict[str, list[str]]:
    """Up to `n` texts per route (see the module docstring)."""
    from lepton_tf.data.banking77 import read_banking77
    from lepton_tf.data.beir import read_beir
    from lepton_tf.data.paths import data_dir
    from lepton_tf.assistant.backends import sgd_user_turns

    stackfaq = sorted(read_beir(str(data_dir() / "beir" / "stackfaq"), split="test")
                      .queries.values())
    banking = sorted({e.text for e in read_banking77("test")})
    rng = random.Random(seed)
    return {SEARCH: rng.sample(stackfaq, min(n, len(stackfaq))),
            CHAT: sgd_user_turns(n, split="test", seed=seed),
            OUT_OF_SCOPE: rng.sample(banking, min(n, len(banking)))}


def best_threshold(positive: np.ndarray, negative: np.ndarray) -> tuple[float, float]:
    """`(threshold, balanced accuracy)` of `score >= threshold` meaning positive."""
    candidates = np.unique(np.concatenate([positive, negative]))
    best = (float(candidates[0]), 0.0)
    for t in candidates:
        accuracy = 0.5 * (np.mean(positive >= t) + np.mean(negative < t))
        if accuracy > best[1]:
            best = (float(t), float(accuracy))
    return best


def _half(signals: Signals, first: bool, seed: int = 0) -> Signals:
    order = list(range(len(signals.texts)))
    random.Random(seed).shuffle(order)
    cut = len(order) // 2
    pick = order[:cut] if first else order[cut:]
    return Signals(signals.route, [signals.texts[i] for i in pick], signals.search[pick],
                   signals.dialogue[pick], [signals.intents[i] for i in pick],
                   None if signals.domain is None else signals.domain[pick])


def route_all(router: Router, signals: Signals) -> list[str]:
    domain = [None] * len(signals.texts) if signals.domain is None else signals.domain
    return [router.route(float(s), float(d), i, domain_score=None if m is None else float(m))
            for s, d, i, m in zip(signals.search, signals.dialogue, signals.intents, domain)]


def confusion(router: Router, sets: dict[str, Signals]) -> dict[str, dict[str, float]]:
    """Share of each set routed to each route."""
    table = {}
    for route, signals in sets.items():
        routed = route_all(router, signals)
        table[route] = {r: routed.count(r) / max(len(routed), 1) for r in (SEARCH, CHAT,
                                                                          OUT_OF_SCOPE)}
    return table


def margin_rule(fit: dict[str, Signals], t_search: float) -> tuple[float, float, float]:
    """`(margin threshold, dialogue floor, balanced accuracy)` on the fit halves (the
    Router's defaults and 0 when the sets have no domain score)."""
    if fit[CHAT].domain is None:
        router = Router()
        return router.margin_threshold, router.dialogue_floor, 0.0
    margins = {r: (fit[r].dialogue - fit[r].domain)[fit[r].search < t_search]
               for r in (CHAT, OUT_OF_SCOPE)}
    threshold, accuracy = best_threshold(margins[CHAT], margins[OUT_OF_SCOPE])
    floor = float(np.quantile(fit[CHAT].dialogue, FLOOR_SHARE))
    return threshold, floor, accuracy


def calibrate(sets: dict[str, Signals], use_intent: bool = True) -> dict:
    """Thresholds from the first halves, the rule's confusion on the second halves."""
    fit = {r: _half(s, True) for r, s in sets.items()}
    held = {r: _half(s, False) for r, s in sets.items()}
    t_search, acc_search = best_threshold(
        fit[SEARCH].search, np.concatenate([fit[CHAT].search, fit[OUT_OF_SCOPE].search]))
    rest = {r: s for r, s in fit.items() if r != SEARCH}
    keep = {r: [i for i, (sc, it) in enumerate(zip(s.search, s.intents))
                if sc < t_search and not (use_intent and it is not None
                                                and it.out_of_scope is False)]
            for r, s in rest.items()}
    t_dialogue, acc_dialogue = best_threshold(rest[CHAT].dialogue[keep[CHAT]],
                                              rest[OUT_OF_SCOPE].dialogue[keep[OUT_OF_SCOPE]])
    # Rule 3: among turns the intent model claims, a service request the chat
    # model knows (SGD) against a banking request, by the dialogue score.
    claimed = {r: [i for i, (sc, it) in enumerate(zip(s.search, s.intents))
                   if sc < t_search and it is not None and it.out_of_scope is False]
               for r, s in rest.items()}
    t_service, acc_service = (best_threshold(rest[CHAT].dialogue[claimed[CHAT]],
                                             rest[OUT_OF_SCOPE].dialogue[claimed[OUT_OF_SCOPE]])
                              if claimed[CHAT] and claimed[OUT_OF_SCOPE] else (1.01, 0.0))
    margin, floor, acc_margin = margin_rule(fit, t_search)
    router = Router(round(t_search, 3), round(t_dialogue, 3), use_intent,
                    service_threshold=round(max(t_service, t_dialogue), 3),
                    margin_threshold=round(margin, 3), dialogue_floor=round(floor, 3))
    table = confusion(router, held)
    accuracy = float(np.mean([table[r][r] for r in table]))
    return {"router": router, "search_balanced_accuracy_fit": acc_search,
            "dialogue_balanced_accuracy_fit": acc_dialogue,
            "service_balanced_accuracy_fit": acc_service,
            "margin_balanced_accuracy_fit": acc_margin,
            "held_out_confusion": table, "held_out_mean_recall": accuracy,
            "sizes": {r: len(s.texts) for r, s in held.items()}}


def held_out(router: Router, sets: dict[str, Signals]) -> dict:
    """`router`'s confusion and mean recall on the second halves (what `calibrate`
    reports), e.g. for the thresholds in use before a recalibration."""
    table = confusion(router, {r: _half(s, False) for r, s in sets.items()})
    return {"held_out_confusion": table,
            "held_out_mean_recall": float(np.mean([table[r][r] for r in table]))}


def collect_signals(backends, sets: dict[str, list[str]], batch: int = 64) -> dict[str, Signals]:
    """Search top score, dialogue score and intent of every text, by batches."""
    reference = backends._reference()
    has_domain = backends.domain_score("hello") is not None  # embeds the reference
    out = {}
    for route, texts in sets.items():
        search, dialogue, intents, domain = [], [], [], []
        for i in range(0, len(texts), batch):
            chunk = texts[i:i + batch]
            res = backends._predict(search_contract.MODEL,
                                    *backends.search_request(chunk, 1), [search_contract.SCORES])
            search.extend(np.asarray(res[search_contract.SCORES])[:, 0].tolist())
            vectors = backends.embed(chunk)
            dialogue.extend(np.max(vectors @ reference.T, axis=1).tolist())
            if has_domain:
                domain.extend(np.max(vectors @ backends._domain_vectors.T, axis=1).tolist())
            found = backends.intents(chunk)
            intents.extend(found if found is not None else [None] * len(chunk))
        out[route] = Signals(route, texts, np.array(search), np.array(dialogue), intents,
                             np.array(domain) if has_domain else None)
    return out
