"""Corpus -> embeddings -> ScaNN + stemmed BM25 index, versioned beside a document store."""

from lepton_tf.index.scann_config import IndexBuilder, IndexConfig
from lepton_tf.index.documents import Document, read_documents, write_documents
from lepton_tf.index.errors import IndexFormatError, IndexMismatchError
from lepton_tf.index.exact import ExactIndex
from lepton_tf.index.filters import FilterError
from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.known_questions import KnownQuestions
from lepton_tf.index.search_index import EncoderInfo, SearchIndex
from lepton_tf.index.storage import list_index_versions, load_index, save_index

__all__ = ["Document", "EncoderInfo", "ExactIndex", "FilterError", "FusionConfig",
           "IndexBuilder", "IndexConfig", "IndexFormatError", "IndexMismatchError", "KnownQuestions",
           "SearchIndex",
           "list_index_versions", "load_index", "read_documents", "save_index",
           "write_documents"]
