"""lepton-tf: raw text to a served chat-to-search product on TensorFlow.

Stages (each a subpackage, depending only on the ones before it):
`data` (vendored corpora, readers, tf.data) -> `text` (in-graph tokenizers)
-> `models` (Keras + keras-hub) -> `training` (tf.distribute fit loop) ->
`export` (SavedModels in TF Serving layout).

The names below load lazily, so `import lepton_tf` (and `lepton-tf --help`)
does not pay for importing TensorFlow.
"""

__version__ = "0.1.0"

_API = {
    "TrainConfig": "lepton_tf.training",
    "Trainer": "lepton_tf.training",
    "load_config": "lepton_tf.training",
    "make_strategy": "lepton_tf.training",
    "export_servable": "lepton_tf.export",
    "MiniLMTokenizer": "lepton_tf.text",
    "ChatTokenizer": "lepton_tf.text",
    "IntentClassifier": "lepton_tf.models.intent",
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        import importlib
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lepton_tf' has no attribute {name!r}")
