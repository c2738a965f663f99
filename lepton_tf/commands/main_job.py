"""`lepton-tf main`: build whatever is missing, serve it, and use it over gRPC.

1. the chat vocabulary, the `encoder` (MiniLM fine-tuned on StackFAQ), the
   ScaNN index of the StackFAQ answers, the `intent` classifier and the
   `chat` model: each only if missing (the `chat` model ships in git);
2. the embedded server on its defaults (gRPC 127.0.0.1:8500, REST 8501)
   hosting `chat`, `encoder`, `intent` and `search`;
3. a chat turn and a search through the stock TF Serving gRPC stubs, then a
   scripted conversation with the `assistant` (intent routing, search,
   grounded reply with citations), streamed over gRPC. The web page is at
   http://127.0.0.1:8501/ while `lepton-tf serve --assistant` runs.
"""

from __future__ import annotations

import os
import time

from lepton_tf.commands.index import DEFAULT_CORPUS, DEFAULT_INDEX_DIR
from lepton_tf.tasks.registry import DEFAULT_BASE_DIR

SERVABLES = ("encoder", "intent", "chat")
ENCODER_RECIPES = ("zero-shot", "fine-tuned")
DEFAULT_ENCODER_RECIPE = "fine-tuned"
DEMO_CHAT = ["Hi, I'd like to find a restaurant in San Jose.", "Something Italian, please."]
DEMO_QUERIES = ["How can I delete my Facebook account?",
                "strikethrough text in github markdown"]


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.time()


def ensure_servable(name: str, base_dir: str) -> str:
    """The latest version of a servable, training and exporting it if none."""
    from lepton_tf.tasks.registry import train
    from lepton_tf.export import latest_version_path

    path = latest_version_path(base_dir, name)
    if path:
        print(f"{name}: using {path}")
        return path
    start = _step(f"{name}: no version in {base_dir}/{name}, training it")
    path = train(name, base_dir=base_dir, export=True)
    print(f"{name}: built in {time.time() - start:.0f} s")
    return path


def ensure_encoder(base_dir: str, recipe: str) -> str:
    """The latest `encoder` version, building it by `recipe` if there is none.

    Args:
        recipe: `zero-shot` exports all-MiniLM-L6-v2 as it is (seconds, no
            training); `fine-tuned` trains it on the StackFAQ train queries
            first (`configs/encoder.yaml`).
    """
    from lepton_tf.export import latest_version_path

    path = latest_version_path(base_dir, "encoder")
    if path or recipe == "fine-tuned":
        return ensure_servable("encoder", base_dir)
    from lepton_tf.export.encoder_servable import export_encoder
    from lepton_tf.models.retrieval import DualEncoder
    from lepton_tf.models.sentence_encoder import SentenceEncoder

    start = _step(f"encoder: no version in {base_dir}/encoder, exporting zero-shot "
                  "all-MiniLM-L6-v2")
    path = export_encoder(DualEncoder(SentenceEncoder.from_minilm()), base_dir=base_dir)
    print(f"encoder: exported in {time.time() - start:.0f} s")
    return path


def ensure_index(index_dir: str, encoder_path: str, corpus: str) -> str:
    """The latest index version if the current encoder built it, else a new one."""
    from lepton_tf.index.build import build_index
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.storage import list_index_versions, read_manifest

    encoder = SavedModelEncoder(encoder_path)
    if list_index_versions(index_dir):
        # The manifest says which encoder built it; the server loads (and
        # checksums) the index itself, so it is not loaded twice here.
        if read_manifest(index_dir)["encoder"].get("fingerprint") == encoder.info.fingerprint:
            print(f"index: using {index_dir} (built by encoder v{encoder.info.version})")
            return index_dir
        print("index: built by another encoder version, rebuilding")
    _step(f"index: encoding {corpus} with encoder v{encoder.info.version}")
    build_index(corpus, encoder_path, index_dir, encoder=encoder)
    return index_dir


def write_models_config(base_dir: str, names, path: str) -> str:
    """A TF Serving `models.config` for the given servables of `base_dir`."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for name in names:
        model = config.model_config_list.config.add()
        model.name = name
        model.base_path = os.path.abspath(os.path.join(base_dir, name))
        model.model_platform = "tensorflow"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(config))
    return path


def serve_and_query(base_dir: str, index_dir: str, port: int, rest_port: int) -> None:
    """Starts the embedded server, chats and searches over gRPC, stops it."""
    from lepton_tf.assistant.demo import run_scripted_conversation
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.client import ChatClient, SearchClient
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.server.search_wiring import search_factory

    start = _step(f"serving {', '.join(SERVABLES)}, search and assistant on 127.0.0.1:{port} "
                  f"(REST {rest_port})")
    config = write_models_config(base_dir, SERVABLES, os.path.join("runs", "main", "models.config"))
    server = ModelServer(ServerOptions(model_config_file=config, port=port,
                                       rest_api_port=rest_port, file_system_poll_wait_seconds=0),
                         python_servables={"search": search_factory(index_dir)})
    mount_assistant(server)
    server.start()
    print(f"server up in {time.time() - start:.0f} s: gRPC {server.grpc_port}, "
          f"REST {server.rest_port}")
    target = f"127.0.0.1:{server.grpc_port}"
    try:
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
    finally:
        server.stop()


def run(args) -> int:
    from lepton_tf.commands.vocab import build_chat_vocab_file

    start = time.time()
    build_chat_vocab_file()
    paths = {name: ensure_encoder(args.base_dir, args.encoder) if name == "encoder"
             else ensure_servable(name, args.base_dir) for name in SERVABLES}
    ensure_index(args.index_dir, paths["encoder"], args.corpus)
    if not args.no_serve:
        serve_and_query(args.base_dir, args.index_dir, args.port, args.rest_api_port)
    print(f"\nMain job done in {time.time() - start:.0f} s.")
    return 0


def register(sub) -> None:
    p = sub.add_parser("main", help="build every missing model, serve them, chat and search")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR)
    p.add_argument("--index-dir", default=DEFAULT_INDEX_DIR)
    p.add_argument("--corpus", default=DEFAULT_CORPUS)
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    p.add_argument("--rest_api_port", type=int, default=8501, help="REST port (0: no REST, as TF Serving)")
    p.add_argument("--no-serve", action="store_true", help="only build what is missing")
    p.add_argument("--encoder", choices=ENCODER_RECIPES, default=DEFAULT_ENCODER_RECIPE,
                   help="how to build a missing encoder: export zero-shot MiniLM, or fine-tune "
                        "it on StackFAQ (see README, 'A default encoder that never hurts')")
    p.set_defaults(fn=run)
