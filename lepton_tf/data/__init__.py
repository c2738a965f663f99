"""Data layer: readers for the vendored datasets and `tf.data` datasets of arrays.

Readers (pure Python, no TensorFlow import):
    data_dir, read_sgd_dialogues, iter_response_pairs, read_sgd_schemas,
    read_banking77, banking77_labels, read_stackfaq
Records: Turn, Dialogue, ResponsePair, IntentExample, FaqThread, ServiceSchema
Errors: DataFormatError
tf.data: make_dataset (`tf_datasets`; loaded lazily on first attribute access, since it
    imports TensorFlow; not in __all__, so `from lepton_tf.data import *` stays fast)
"""

from lepton_tf.data.banking77 import banking77_labels, read_banking77
from lepton_tf.data.errors import DataFormatError
from lepton_tf.data.paths import data_dir
from lepton_tf.data.records import Dialogue, FaqThread, IntentExample, ResponsePair, ServiceSchema, Turn
from lepton_tf.data.sgd import iter_response_pairs, read_sgd_dialogues, read_sgd_schemas
from lepton_tf.data.stackfaq import read_stackfaq

__all__ = [
    "DataFormatError",
    "Dialogue",
    "FaqThread",
    "IntentExample",
    "ResponsePair",
    "ServiceSchema",
    "Turn",
    "banking77_labels",
    "data_dir",
    "iter_response_pairs",
    "read_banking77",
    "read_sgd_dialogues",
    "read_sgd_schemas",
    "read_stackfaq",
]


def __dir__():
    return sorted([*__all__, "make_dataset"])


def __getattr__(name):
    # Lazy: keep `import lepton_tf.data` free of the slow TensorFlow import.
    if name == "make_dataset":
        from lepton_tf.data.tf_datasets import make_dataset

        globals()["make_dataset"] = make_dataset
        return make_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
