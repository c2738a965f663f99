"""In-graph tokenizers (savable in a SavedModel, served by TF Serving).

- `MiniLMTokenizer`, `minilm_vocab_path`: uncased WordPiece for
  all-MiniLM-L6-v2 (`[CLS] ... [SEP]`, truncation, padding).
- `ChatTokenizer`: cased WordPiece tokenize/detokenize for the chat model.
- `build_chat_vocab`, `CHAT_RESERVED_TOKENS`, `save_vocab`, `load_vocab`:
  learning and storing the chat vocabulary.
- `WordPieceOffsets` (`lepton_tf.text.wordpiece_offsets`): the same MiniLM
  word pieces in pure Python with character offsets, for chunking files.

Names are imported on first use, so `import lepton_tf.text.wordpiece_offsets`
(ingestion, Beam workers) does not pay for the TensorFlow import.
"""

import importlib

_WHERE = {
    "CHAT_RESERVED_TOKENS": "chat_vocab",
    "ChatTokenizer": "chat_tokenizer",
    "MiniLMTokenizer": "minilm_tokenizer",
    "build_chat_vocab": "chat_vocab",
    "load_vocab": "vocab_io",
    "minilm_vocab_path": "wordpiece_offsets",
    "save_vocab": "vocab_io",
}

__all__ = ["CHAT_RESERVED_TOKENS", "ChatTokenizer", "MiniLMTokenizer", "build_chat_vocab",
           "load_vocab", "minilm_vocab_path", "save_vocab"]


def __dir__():
    return __all__


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"lepton_tf.text.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
