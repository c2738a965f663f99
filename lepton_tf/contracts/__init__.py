"""The servables' contracts: model, signature and tensor names, and how the
`search` outputs are packed and read back.

A producer (`export`, `search`) and its consumers (`client`, `assistant`,
`pipelines`, `index`, `evaluation`) import the names from here, so a
signature cannot drift between the side that writes it and the side that
reads it. This package imports nothing of lepton_tf: it sits at the bottom
of the layers, beside `text`.

- `encoder`: the `encoder` SavedModel (`encode_query`, `encode_document`).
- `intent`: the `intent` SavedModel.
- `chat`: the `chat` SavedModel (`generate`'s options and their defaults).
- `search`: the `search` servable, its modes, `SearchHit`, pack / unpack.
"""
