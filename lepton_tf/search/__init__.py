"""The `search` product: a query -> the encoder -> the index -> hits + not-found.

It sits above `index/` (what it searches), `server/` (which hosts it through
the `Servable` interface and knows nothing of search) and `client/`, and
below `assistant/`. The pieces:

- `servable`: `SearchServable`, the `search` model behind the TF Serving
  Predict API (ScaNN ops are not in stock TF Serving, so it lives here).
- `wiring`: how a server hosts it: query embedders (in process or a remote
  TF Serving), the polled index versions, the remote shards front.
- `pairing`: an index version is served with the encoder version that built it.
- `shards`: `search_shard` servers and the `RemoteShard` the front scatters to.
"""
