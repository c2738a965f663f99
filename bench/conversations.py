"""Mixed conversations with the real models: loops, leaks, cut answers, not-found, latency.

    python bench/conversations.py                  # saved_models/, >= 200 turns
    python bench/conversations.py --sessions 30 --json runs/bench_conversations.json

A copy of the StackFAQ index is made with one fold of whole threads
left out (`lepton_tf.index.not_found_thread_fit`'s folds: the held-out fold 4),
so the test questions of those threads are unanswerable. One embedded
server hosts `encoder`, `intent`, `chat`, that `search` and the
`assistant`; each session is a Schema-Guided Dialogue test dialogue's user
turns (as typed, in order) interleaved with a held-out StackFAQ question
(a test question of a kept thread), a greeting, thanks, an unanswerable
question and a goodbye, sent one at a time over gRPC Predict:

    faq, greeting, sgd 1, sgd 2, faq, thanks, sgd 3, sgd 4, unanswerable, goodbye

Reported (targets in brackets):

- replies with a repeated word 3-gram [0] (URL words aside; with them, beside it);
- leaks [0]: a chat-route reply carrying `[n]`, saying back half the
  3-grams of an earlier user turn (an echo), or using a content word of a passage shown
  earlier in the session that is not the user's, nor in the assistant's own
  texts, nor in the chat model's ordinary vocabulary (the words of SGD
  train system turns); the strict count (any shared content word) beside it;
- search replies ending mid-sentence [0];
- unanswerable questions answered "not found", answerable ones not;
- SGD turns refused (`out_of_scope`);
- p50/p95 turn latency as the client sees it [p95 < 1.5 s on 2 cores].
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import sys
import tempfile
import time

import numpy as np

import bench_cli

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))
sys.path.insert(0, BENCH)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GREETINGS = ["Hello!", "Hey there.", "Hi, good afternoon.", "Good morning to you!"]
THANKS = ["Thanks so much!", "Great, thank you.", "Thanks, that helps."]
GOODBYES = ["Bye for now.", "Goodbye!", "Ok, bye."]
PATTERN = ["faq", "greeting", "sgd", "sgd", "faq", "thanks", "sgd", "sgd", "unanswerable",
           "goodbye"]
LEFT_OUT_FOLD = 4
_WORD = re.compile(r"[a-z0-9]+")
_CITE = re.compile(r"\[\d{1,2}\]")


def content_words(text: str) -> set:
    from lepton_tf.assistant.grounding import _words

    return _words(text)


_URL = re.compile(r"(?:https?://|www\.)\S+")


def trigrams(text: str, urls: bool = False) -> list:
    """Word 3-grams, citations aside (and URLs, unless `urls`: two links to one site
    share `https groups google com` without being a loop)."""
    text = _CITE.sub(" ", text if urls else _URL.sub(" ", text))
    words = _WORD.findall(text.lower())
    return [tuple(words[i:i + 3]) for i in range(len(words) - 2)]


def build_left_out_index(index_dir: str, out_dir: str, folds: int = 5, seed: int = 0):
    """A copy of the StackFAQ index without the fold's threads (their vectors deleted,
    nothing re-encoded); `(index dir, answerable, unanswerable test questions)`."""
    from lepton_tf.assistant import knowledge_base
    from lepton_tf.data.beir import read_beir
    from lepton_tf.data.paths import data_dir
    from lepton_tf.index import not_found_rule
    from lepton_tf.index.not_found_thread_fit import thread_folds, thread_of
    from lepton_tf.index.storage import load_index, read_extra_file, save_index

    collection = read_beir(os.path.join(str(data_dir()), "beir", "stackfaq"), "test")
    left_out = thread_folds(collection.corpus, folds, seed)[LEFT_OUT_FOLD]
    index = load_index(index_dir)
    index.delete([d for d in index.documents if thread_of(d) in left_out])
    out = os.path.join(out_dir, "index")
    rule = read_extra_file(index_dir, not_found_rule.FILE_NAME)  # fitted without that fold
    save_index(index, out, extra_files={not_found_rule.FILE_NAME: rule} if rule else None)
    knowledge_base.write_default(out, "stackfaq")
    questions = sorted(collection.queries.items())
    return (out, [q for i, q in questions if thread_of(i) not in left_out],
            [q for i, q in questions if thread_of(i) in left_out])


def script(sessions: int, answerable: list, unanswerable: list, seed: int = 0) -> list:
    """`sessions` lists of `(message, kind)`, see the module docstring."""
    from lepton_tf.data.sgd import read_sgd_dialogues

    rng = random.Random(seed)
    dialogues = [[t.utterance for t in d.turns if t.speaker == "USER"]
                 for d in read_sgd_dialogues("test")]
    dialogues = rng.sample([d for d in dialogues if len(d) >= 4], sessions)
    faq, gone = rng.sample(answerable, 2 * sessions), rng.sample(unanswerable, sessions)
    out = []
    for s, dialogue in enumerate(dialogues):
        pools = {"faq": iter(faq[2 * s:2 * s + 2]), "sgd": iter(dialogue),
                 "unanswerable": iter([gone[s]]), "greeting": iter([rng.choice(GREETINGS)]),
                 "thanks": iter([rng.choice(THANKS)]), "goodbye": iter([rng.choice(GOODBYES)])}
        out.append([(next(pools[kind]), kind) for kind in PATTERN])
    return out


def sgd_vocabulary() -> set:
    """Content words of SGD train system turns: what the chat model says anyway."""
    from lepton_tf.data.sgd import read_sgd_dialogues

    return set().union(*(content_words(t.utterance) for d in read_sgd_dialogues("train")
                         for t in d.turns if t.speaker == "SYSTEM"))


@dataclasses.dataclass
class Tally:
    turns: int = 0
    repeated: list = dataclasses.field(default_factory=list)
    leaks: list = dataclasses.field(default_factory=list)
    strict_leaks: int = 0
    repeated_strict: int = 0  # URLs counted too
    mid_sentence: list = dataclasses.field(default_factory=list)
    kinds: dict = dataclasses.field(default_factory=dict)  # kind -> route -> count
    not_found: dict = dataclasses.field(default_factory=dict)  # kind -> flagged count


def score_session(turns: list, tally: Tally, own: set, vocabulary: set) -> None:
    """Adds one session's `(message, kind, answer)` turns to `tally`."""
    shown, users, earlier = set(), set(own), []
    for message, kind, answer in turns:
        reply, route = answer["reply"], answer["route"]
        users |= content_words(message)
        tally.turns += 1
        routes = tally.kinds.setdefault(kind, {})
        routes[route] = routes.get(route, 0) + 1
        tally.not_found[kind] = tally.not_found.get(kind, 0) + bool(answer["not_found"])
        grams = trigrams(reply)
        if len(grams) != len(set(grams)):
            tally.repeated.append((message, reply))
        with_urls = trigrams(reply, urls=True)
        tally.repeated_strict += len(with_urls) != len(set(with_urls))
        if route == "search" and not answer["not_found"]:
            from lepton_tf.assistant.answers import ends_sentence

            if not ends_sentence(reply):
                tally.mid_sentence.append((message, reply))
        if route in ("chat", "smalltalk"):
            shared = (content_words(reply) & shown) - users
            tally.strict_leaks += bool(shared)
            # An echo says an earlier user turn back: most of its 3-grams (a task
            # reply repeating a slot value, "in Palo Alto", is not one).
            echo = any(len(trigrams(e)) >= 3 and len(set(trigrams(e)) & set(grams))
                       >= 0.5 * len(set(trigrams(e))) for e in earlier)
            if _CITE.search(reply) or echo or shared - vocabulary:
                tally.leaks.append((message, reply, sorted(shared - vocabulary), echo))
        for c in answer["citations"] + [{"title": t, "snippet": ""}
                                        for t in answer["related_questions"]]:
            shown |= content_words(f"{c['title']} {c['snippet']}")
        earlier.append(message)


def run(args) -> dict:
    from assistant import start_server  # bench/assistant.py

    from lepton_tf.assistant import knowledge_base
    from lepton_tf.client.assistant import AssistantClient

    work = tempfile.mkdtemp(prefix="bench_conversations_")
    t0 = time.time()
    index_dir, answerable, unanswerable = build_left_out_index(args.index_dir, work)
    print(f"index without fold {LEFT_OUT_FOLD}'s threads in {time.time() - t0:.0f} s: "
          f"{len(answerable)} answerable, {len(unanswerable)} unanswerable test questions",
          flush=True)
    sessions = script(args.sessions, answerable, unanswerable, args.seed)
    texts = knowledge_base.load(index_dir)
    vocabulary = sgd_vocabulary()
    own = set().union(*(content_words(texts.text(f.name))
                        for f in dataclasses.fields(texts)))
    server, names = start_server(args.base_dir, index_dir, knowledge_base=index_dir)
    target, tally, latency, log = f"127.0.0.1:{server.grpc_port}", Tally(), [], []
    try:
        AssistantClient(target, session_id="warmup", timeout_s=60).ask("How do I warm up?")
        for s, turns in enumerate(sessions):
            client = AssistantClient(target, session_id=f"bench-{s}", timeout_s=60)
            done = []
            for message, kind in turns:
                start = time.perf_counter()
                answer = client.ask(message)
                latency.append((time.perf_counter() - start) * 1e3)
                done.append((message, kind, answer))
                log.append({"session": s, "kind": kind, "message": message,
                            "route": answer["route"], "not_found": answer["not_found"],
                            "reply": answer["reply"], "ms": latency[-1],
                            "timings_ms": answer["timings_ms"]})
            score_session(done, tally, own, vocabulary)
    finally:
        server.stop()
    result = report(tally, latency)
    by_kind = {}
    for row in log:
        by_kind.setdefault(row["kind"], []).append(row["ms"])
    result["p95_ms_by_kind"] = {k: float(np.percentile(v, 95)) for k, v in by_kind.items()}
    print("p95 by kind (ms): " + ", ".join(f"{k} {v:.0f}"
                                           for k, v in result["p95_ms_by_kind"].items()))
    result["turn_log"] = log
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


def report(tally: Tally, latency: list) -> dict:
    p50, p95 = (float(np.percentile(latency, q)) for q in (50, 95))
    flagged = lambda kind: tally.not_found.get(kind, 0) / max(
        sum(tally.kinds.get(kind, {}).values()), 1)
    result = {"turns": tally.turns, "repeated_3gram": len(tally.repeated),
              "repeated_3gram_with_urls": tally.repeated_strict,
              "leaks": len(tally.leaks), "strict_leaks": tally.strict_leaks,
              "search_mid_sentence": len(tally.mid_sentence), "routes_by_kind": tally.kinds,
              "unanswerable_flagged": flagged("unanswerable"), "faq_flagged": flagged("faq"),
              "sgd_refused": tally.kinds.get("sgd", {}).get("out_of_scope", 0)
              / max(sum(tally.kinds.get("sgd", {}).values()), 1),
              "p50_ms": p50, "p95_ms": p95,
              "examples": {"repeated": tally.repeated[:5], "leaks": tally.leaks[:5],
                           "mid_sentence": tally.mid_sentence[:5]}}
    print(f"\n{tally.turns} turns; routes by kind: {json.dumps(tally.kinds)}")
    for key in ("repeated_3gram", "leaks", "search_mid_sentence"):
        print(f"{key}: {result[key]} (target 0)")
    print(f"strict leaks (any shared content word): {tally.strict_leaks}; replies with a "
          f"repeated 3-gram counting URL words: {tally.repeated_strict}")
    print(f"unanswerable flagged not found: {result['unanswerable_flagged']:.1%}; "
          f"answerable flagged: {result['faq_flagged']:.1%}; "
          f"SGD turns refused: {result['sgd_refused']:.1%}")
    print(f"turn latency p50 {p50:.0f} ms, p95 {p95:.0f} ms (target < 1500 ms)")
    for name, rows in result["examples"].items():
        for row in rows:
            print(f"  {name}: {row}")
    return result


def main() -> None:
    p = bench_cli.parser(__doc__)
    p.add_argument("--base-dir", default="saved_models")
    p.add_argument("--index-dir", default=os.path.join("indexes", "stackfaq"))
    p.add_argument("--sessions", type=int, default=21, help="10 turns each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    run(p.parse_args())


if __name__ == "__main__":
    main()
