"""The `encoder` servable: `text` string `[B]` -> `embedding` float32 `[B, D]`.

Both towers are signatures of one SavedModel; `serving_default` is the
query tower. Embeddings are L2-normalised, so a dot product is a cosine.
"""

MODEL = "encoder"
QUERY_SIGNATURE = "encode_query"
DOCUMENT_SIGNATURE = "encode_document"
DEFAULT_SIGNATURE = "serving_default"
TEXT = "text"
EMBEDDING = "embedding"
