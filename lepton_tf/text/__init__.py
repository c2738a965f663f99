"""In-graph tokenizers (savable in a SavedModel, served by TF Serving).

- `MiniLMTokenizer`, `minilm_vocab_path`: uncased WordPiece for
  all-MiniLM-L6-v2 (`[CLS] ... [SEP]`, truncation, padding).
- `ChatTokenizer`: cased WordPiece tokenize/detokenize for the chat model.
- `build_chat_vocab`, `CHAT_RESERVED_TOKENS`, `save_vocab`, `load_vocab`:
  learning and storing the chat vocabulary.
"""

from lepton_tf.text.chat_tokenizer import ChatTokenizer
from lepton_tf.text.chat_vocab import CHAT_RESERVED_TOKENS, build_chat_vocab
from lepton_tf.text.minilm_tokenizer import MiniLMTokenizer, minilm_vocab_path
from lepton_tf.text.vocab_io import load_vocab, save_vocab

__all__ = [
    "CHAT_RESERVED_TOKENS",
    "ChatTokenizer",
    "MiniLMTokenizer",
    "build_chat_vocab",
    "load_vocab",
    "minilm_vocab_path",
    "save_vocab",
]
