"""Building an index version: which build runs for a request (`request`)."""

from lepton_tf.indexing.request import (DEFAULT_CORPUS, DEFAULT_ENCODER, IndexRequest,
                                        build_index_version)

__all__ = ["DEFAULT_CORPUS", "DEFAULT_ENCODER", "IndexRequest", "build_index_version"]
