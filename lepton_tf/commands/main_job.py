"""`lepton-tf main`: build whatever is missing, then run the product end to end."""

from __future__ import annotations

import os
import time

from lepton_tf.commands.index import DEFAULT_CORPUS, DEFAULT_INDEX_DIR
from lepton_tf.commands.train import DEFAULT_BASE_DIR


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.time()


def ensure_servable(name: str, base_dir: str) -> str:
    """The latest version of a servable, training and exporting it if none."""
    from lepton_tf.commands.train import train
    from lepton_tf.export import latest_version_path

    path = latest_version_path(base_dir, name)
    if path:
        print(f"{name}: using {path}")
        return path
    start = _step(f"{name}: no version in {base_dir}/{name}, training it")
    path = train(name, base_dir=base_dir, export=True)
    print(f"{name}: built in {time.time() - start:.0f} s")
    return path


def ensure_index(index_dir: str, encoder_path: str, corpus: str) -> str:
    """The latest index version if the current encoder built it, else a new one."""
    from lepton_tf.index.build import build_index
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.storage import list_index_versions, load_index

    encoder = SavedModelEncoder(encoder_path)
    if list_index_versions(index_dir):
        index = load_index(index_dir)
        if index.encoder.fingerprint == encoder.info.fingerprint:
            print(f"index: using {index_dir} (built by encoder v{encoder.info.version})")
            return index_dir
        print("index: built by another encoder version, rebuilding")
    _step(f"index: encoding {corpus} with encoder v{encoder.info.version}")
    build_index(corpus, encoder_path, index_dir, encoder=encoder)
    return index_dir


def run(args) -> int:
    from lepton_tf.commands.vocab import build_chat_vocab_file

    start = time.time()
    build_chat_vocab_file()
    encoder = ensure_servable("encoder", args.base_dir)
    ensure_index(args.index_dir, encoder, args.corpus)
    ensure_servable("intent", args.base_dir)
    print(f"\nMain job done in {time.time() - start:.0f} s.")
    return 0


def register(sub) -> None:
    p = sub.add_parser("main", help="build every missing model, then run the product")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR)
    p.add_argument("--index-dir", default=DEFAULT_INDEX_DIR)
    p.add_argument("--corpus", default=DEFAULT_CORPUS)
    p.set_defaults(fn=run)
