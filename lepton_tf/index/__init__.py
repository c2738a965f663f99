"""Corpus -> embeddings -> ScaNN + stemmed BM25 index, versioned beside a document store.

The names below are loaded on first use (PEP 562): importing a light module
of this package (`not_found_rule`, `fusion`) must not import TensorFlow, so that
`lepton-tf --help` and the evaluation parsers stay instant.
"""

import importlib

_EXPORTS = {
    "IndexBuilder": "scann_config", "IndexConfig": "scann_config",
    "Document": "documents", "read_documents": "documents", "write_documents": "documents",
    "IndexFormatError": "errors", "IndexMismatchError": "errors",
    "ExactIndex": "exact",
    "FilterError": "filters",
    "FusionConfig": "fusion",
    "KnownQuestions": "known_questions",
    "EncoderInfo": "search_index", "SearchIndex": "search_index",
    "list_index_versions": "storage", "load_index": "storage", "save_index": "storage",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Imports the submodule that defines `name` and returns it."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
