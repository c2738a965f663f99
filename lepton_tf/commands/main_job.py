"""`lepton-tf main`: build whatever is missing, serve it, and use it over gRPC.

1. the chat vocabulary, the `encoder` (all-MiniLM-L6-v2 as it is; `--encoder
   fine-tuned` trains it on StackFAQ first, `configs/encoder.yaml`), the
   ScaNN index of the StackFAQ answers, the `intent` classifier and the
   `chat` model: each only if missing (the `chat` model ships in git), and
   the `dst` state tracker exported from its shipped trained weights;
2. the embedded server on its defaults (gRPC 127.0.0.1:8500, REST 8501)
   hosting `chat`, `encoder`, `intent`, `dst` and `search`;
3. a chat turn and a search through the stock TF Serving gRPC stubs, then a
   scripted conversation with the `assistant` (intent routing, search,
   grounded reply with citations), streamed over gRPC. The web page is at
   http://127.0.0.1:8501/ while `lepton-tf serve --assistant` runs.
"""

from __future__ import annotations

import os

from lepton_tf.indexing import DEFAULT_CORPUS
from lepton_tf.commands.product import (DEFAULT_BASE_DIR, DEFAULT_INDEX_DIR, MODELS_CONFIG,
                                        SERVABLES, default_request_limits, served_names,
                                        write_models_config)
from lepton_tf.progress_bars import StageClock, machine_line

from lepton_tf.commands.serve import DEFAULT_TASK_DB as DEFAULT_DB  # noqa: E402
ENCODER_RECIPES = ("zero-shot", "fine-tuned")
# Zero-shot by default: the fine-tuning recipe that fits the main job's 15 minutes
# (`configs/encoder.yaml`) keeps half the full recipe's StackFAQ gain (+1.59 against +2.88
# nDCG@10), and the self-tuned hybrid index reaches the better of dense and BM25 with
# zero-shot MiniLM on all three collections (docs/benchmarks.md, "The default encoder").
DEFAULT_ENCODER_RECIPE = "zero-shot"
# The corpus split whose queries the index keeps as its documents' known questions
# (StackFAQ's train paraphrases; the not-found rule is calibrated on `test`).
KNOWN_QUESTIONS_SPLIT = "train"
DEMO_CHAT = ["Hi, I'd like to find a restaurant in San Jose.", "Something Italian, please."]
DEMO_QUERIES = ["How can I delete my Facebook account?",
                "strikethrough text in github markdown"]
# Measured on this repo's 2-core CPU VM (idle; busy = load average 8-14), for the
# stage headers: what a user of such a machine should expect.
EXPECTED = {"vocab": "1 min at most: TensorFlow's imports, the file is committed",
            "encoder": "20 s at load 3, 1-1.5 min at load 6-8 on 2 CPU cores: all-MiniLM-L6-v2 "
                       "exported as it is (no training) and checked in a fresh process",
            "encoder fine-tuned": "2.5 min at load 4, 6 min at load 10-13 on 2 CPU cores: "
                                  "MiniLM's upper 3 layers fine-tuned 60 steps, exported",
            "intent": "2.5 min at load 4, 3.5 min at load 10-14 on 2 CPU cores: embed 10k "
                      "texts, train a head, export",
            "index": "40 s idle, 4-8 min busy on 2 CPU cores (half of it self-tunes the "
                     "fusion weight: 719 answers re-encoded without their titles)",
            "chat": "26 + 22 + 76 min on 2 CPU cores (it ships in git)",
            "server start": "1 min at load 4, 2-3.5 min at load 10-14 on 2 CPU cores",
            "dst": "6 min at load 11-14 on 2 CPU cores: the shipped tracker weights onto "
                   "all-MiniLM-L6-v2, exported (no training) and checked in a fresh process",
            "database": "1 s on 2 CPU cores: 50,086 SGD entities into SQLite",
            "demo": "10 s on 2 CPU cores"}


def _step(title: str) -> None:
    print(f"\n-- {title}", flush=True)


def ensure_servable(name: str, base_dir: str, clock: StageClock | None = None,
                    expected: str | None = None) -> str:
    """The latest version of a servable, training and exporting it if none.

    Args:
        name: the task and servable name (`tasks.registry`).
        base_dir: the model base folder.
        clock: the stage clock the job's summary reads.
        expected: the stage header's expected time (default `EXPECTED[name]`).

    Returns:
        Its version folder.
    """
    from lepton_tf.export import latest_version_path
    from lepton_tf.tasks.registry import train

    clock = clock or StageClock()
    path = latest_version_path(base_dir, name)
    if path:
        with clock.stage(name, what=f"using {path}") as record:
            record["note"] = "existed"
        return path
    with clock.stage(name, EXPECTED.get(name, "") if expected is None else expected,
                     f"no version in {base_dir}/{name}, training it") as record:
        path = train(name, base_dir=base_dir, export=True)
        record["note"] = f"built -> {path}"
    return path


def ensure_dst(base_dir: str, clock: StageClock | None = None, weights: str | None = None) -> str | None:
    """The `dst` servable, exported from the shipped trained weights if there is none.

    Args:
        base_dir: the model base folder.
        clock: the stage clock the job's summary reads.
        weights: the weights file (default: the one the package ships).

    Returns:
        Its version folder (None when there is none and no weights file either).
    """
    from lepton_tf.export import latest_version_path
    from lepton_tf.export.dst_servable import export_dst
    from lepton_tf.tasks.dst_weights import load_tracker, shipped_weights_path

    clock = clock or StageClock()
    path = latest_version_path(base_dir, "dst")
    if path:
        with clock.stage("dst", what=f"using {path}") as record:
            record["note"] = "existed"
        return path
    weights = weights or shipped_weights_path()
    if not os.path.isfile(weights):
        with clock.stage("dst", what=f"not served: no {weights}") as record:
            record["note"] = "no trained weights"
        return None
    with clock.stage("dst", EXPECTED["dst"], f"no version in {base_dir}/dst, exporting {weights}") as record:
        model, preprocessor = load_tracker(weights)
        path = export_dst(model, preprocessor, base_dir=base_dir)
        record["note"] = f"exported -> {path}"
    return path


def ensure_encoder(base_dir: str, clock: StageClock | None = None,
                   recipe: str = DEFAULT_ENCODER_RECIPE) -> str:
    """The `encoder` servable the index and the search are built on, built
    by `recipe` if there is none.

    Args:
        base_dir: the model base folder.
        clock: the stage clock the job's summary reads.
        recipe: `zero-shot` (the default) exports all-MiniLM-L6-v2 as it is
            (a minute at most, no training); `fine-tuned` trains it on the
            StackFAQ train queries first (`configs/encoder.yaml`).

    Returns:
        Its version folder.
    """
    from lepton_tf.export import latest_version_path

    if latest_version_path(base_dir, "encoder") or recipe == "fine-tuned":
        return ensure_servable("encoder", base_dir, clock, EXPECTED["encoder fine-tuned"])
    from lepton_tf.tasks.encoder import export_zero_shot

    clock = clock or StageClock()
    with clock.stage("encoder", EXPECTED["encoder"], f"no version in {base_dir}/encoder, exporting "
                     "zero-shot all-MiniLM-L6-v2 (no training)") as record:
        path = export_zero_shot(base_dir)
        record["note"] = f"exported -> {path}"
    return path


def ensure_index(index_dir: str, encoder_path: str, corpus: str,
                 clock: StageClock | None = None) -> str:
    """The latest index version if the current encoder built it (with the
    corpus's `KNOWN_QUESTIONS_SPLIT` queries as known questions, when it has that
    split), else a new one."""
    from lepton_tf.index.build import build_index
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.storage import list_index_versions, read_manifest

    encoder = SavedModelEncoder(encoder_path)
    questions = KNOWN_QUESTIONS_SPLIT if os.path.exists(
        os.path.join(corpus, "qrels", f"{KNOWN_QUESTIONS_SPLIT}.tsv")) else None
    if list_index_versions(index_dir):
        # The manifest says which encoder built it; the server loads (and
        # checksums) the index itself, so it is not loaded twice here.
        manifest = read_manifest(index_dir)
        if manifest["encoder"].get("fingerprint") != encoder.info.fingerprint:
            print("index: built by another encoder version, rebuilding")
        elif questions and not manifest.get("questions"):
            print(f"index: built without the {questions} split's known questions, rebuilding")
        else:
            print(f"index: using {index_dir} (built by encoder v{encoder.info.version})")
            return index_dir
    clock = clock or StageClock()
    with clock.stage("index", EXPECTED["index"],
                     f"encoding {corpus} with encoder v{encoder.info.version}") as record:
        build_index(corpus, encoder_path, index_dir, encoder=encoder, questions=questions)
        record["note"] = f"built -> {index_dir}"
    return index_dir


def ensure_database(db_path: str, clock: StageClock | None = None) -> str:
    """The example services' SQLite database (SGD's entities), built if missing.

    Returns:
        Its path.
    """
    from lepton_tf.dialogue.example_db import build_example_db

    clock = clock or StageClock()
    if os.path.isfile(db_path):
        print(f"database: using {db_path}")
        return db_path
    with clock.stage("database", EXPECTED["database"], f"no {db_path}, building it") as record:
        counts = build_example_db(db_path)
        record["note"] = f"{len(counts)} tables, {sum(counts.values())} rows -> {db_path}"
    return db_path


def serve_and_query(base_dir: str, index_dir: str, port: int, rest_port: int,
                    clock: StageClock | None = None, task_db: str | None = None) -> None:
    """Starts the embedded server, chats and searches over gRPC, stops it."""
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.search.wiring import search_factory

    clock = clock or StageClock()
    names = served_names(base_dir)
    with clock.stage("server start", EXPECTED["server start"],
                     f"serving {', '.join(names)}, search and assistant on 127.0.0.1:"
                     f"{port} (REST {rest_port})"):
        config = write_models_config(base_dir, names, MODELS_CONFIG)
        server = ModelServer(ServerOptions(model_config_file=config, port=port,
                                           rest_api_port=rest_port,
                                           file_system_poll_wait_seconds=0,
                                           request_limits_file=default_request_limits()),
                             python_servables={"search": search_factory(index_dir)})
        from lepton_tf.commands.serve import DEFAULT_SKILLS

        mount_assistant(server, knowledge_base=index_dir, task_db=task_db, skills=DEFAULT_SKILLS)
        server.start()
        print(f"server up: gRPC {server.grpc_port}, REST {server.rest_port}")
    target = f"127.0.0.1:{server.grpc_port}"
    try:
        with clock.stage("demo", EXPECTED["demo"], "chat, search and assistant over gRPC"):
            _demo(target)
    finally:
        server.stop()


def _demo(target: str) -> None:
    """A chat, two searches and a scripted assistant conversation over gRPC."""
    from lepton_tf.assistant.demo import run_scripted_conversation
    from lepton_tf.client import ChatClient, SearchClient

    _step("chat over gRPC (model `chat`)")
    chat = ChatClient(target, timeout_s=60)
    for message in DEMO_CHAT:
        print(f"user:   {message}")
        print(f"system: {chat.send(message)}")
    _step("search over gRPC (model `search`, ScaNN)")
    search = SearchClient(target, timeout_s=60)
    for query in DEMO_QUERIES:
        print(f"query: {query}")
        for rank, hit in enumerate(search.search(query, k=3), 1):
            text = " ".join(hit.text.split())
            print(f"  {rank}. [{hit.score:.3f}] {hit.doc_id} {hit.title}: {text[:90]}")
    _step("assistant over gRPC (model `assistant`, streamed)")
    run_scripted_conversation(target)


def run(args) -> int:
    from lepton_tf.commands.vocab import build_chat_vocab_file

    print(f"lepton-tf main on {machine_line()}", flush=True)
    clock = StageClock()
    with clock.stage("vocab", EXPECTED["vocab"], "the cased chat vocabulary"):
        build_chat_vocab_file()
    encoder = ensure_encoder(args.base_dir, clock, args.encoder)
    ensure_index(args.index_dir, encoder, args.corpus, clock)
    from lepton_tf.assistant import knowledge_base

    knowledge_base.write_default(args.index_dir, args.corpus)  # the assistant's texts
    for name in SERVABLES:
        if name != "encoder":
            ensure_servable(name, args.base_dir, clock)
    ensure_dst(args.base_dir, clock)
    ensure_database(args.db, clock)
    if not args.no_serve:
        serve_and_query(args.base_dir, args.index_dir, args.port, args.rest_api_port, clock,
                        args.db)
    print(clock.summary(), flush=True)
    print("\nKeep it running, with the web page at http://127.0.0.1:8501/: "
          "lepton-tf serve --assistant")
    return 0


def register(sub) -> None:
    p = sub.add_parser("main", help="build every missing model, serve them, chat and search")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR,
                   help=f"model base folder (default {DEFAULT_BASE_DIR})")
    p.add_argument("--index-dir", default=DEFAULT_INDEX_DIR,
                   help=f"ScaNN index base folder (default {DEFAULT_INDEX_DIR})")
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help=f"documents to index, BEIR folder or JSONL (default {DEFAULT_CORPUS})")
    p.add_argument("--db", default=DEFAULT_DB,
                   help=f"the example services' SQLite database (default {DEFAULT_DB})")
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    p.add_argument("--rest_api_port", type=int, default=8501,
                   help="REST port (0: no REST, as TF Serving)")
    p.add_argument("--no-serve", action="store_true", help="only build what is missing")
    p.add_argument("--encoder", choices=ENCODER_RECIPES, default=DEFAULT_ENCODER_RECIPE,
                   help="how to build a missing encoder (default "
                        f"{DEFAULT_ENCODER_RECIPE}): export all-MiniLM-L6-v2 as it is, or "
                        "fine-tune it on StackFAQ first, configs/encoder.yaml (see "
                        "docs/benchmarks.md, 'The default encoder')")
    p.set_defaults(fn=run)
