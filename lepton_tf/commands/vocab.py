"""`lepton-tf vocab chat`: learn the cased chat WordPiece vocabulary."""

import os
import time

DEFAULT_CHAT_VOCAB = os.path.join("vocab", "chat-v1.txt")


def build_chat_vocab_file(out: str = DEFAULT_CHAT_VOCAB, size: int = 8000, seed: int = 0,
                          force: bool = False) -> str:
    """Learns the vocabulary from the SGD train turns and saves it atomically."""
    from lepton_tf.data import read_sgd_dialogues
    from lepton_tf.text import build_chat_vocab
    from lepton_tf.text.vocab_io import save_vocab

    if os.path.exists(out) and not force:
        print(f"{out} exists; pass --force to rebuild it.")
        return out
    texts = [t.utterance for d in read_sgd_dialogues("train") for t in d.turns]
    start = time.time()
    vocab = build_chat_vocab(texts, vocab_size=size, seed=seed)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    save_vocab(vocab, out)
    print(f"Chat vocabulary: {len(vocab)} tokens from {len(texts)} SGD train turns "
          f"in {time.time() - start:.0f} s -> {out}")
    return out


def run(args) -> int:
    build_chat_vocab_file(args.out, args.size, args.seed, args.force)
    return 0


def register(sub) -> None:
    p = sub.add_parser("vocab", help="learn the cased chat WordPiece vocabulary")
    p.add_argument("which", choices=["chat"], help="which vocabulary (chat: cased, from SGD)")
    p.add_argument("--out", default=DEFAULT_CHAT_VOCAB,
                   help=f"vocabulary file to write (default {DEFAULT_CHAT_VOCAB})")
    p.add_argument("--size", type=int, default=8000, help="target vocabulary size (default 8000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed of the vocab learner")
    p.add_argument("--force", action="store_true", help="rebuild even if --out exists")
    p.set_defaults(fn=run)
