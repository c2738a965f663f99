"""The grounded assistant: intent routing, search, chat with citations, streaming, a web page.

- `sessions`: per-session state with an LRU bound and a TTL;
- `routing`: the search / chat / out-of-scope rule and its thresholds;
- `grounding`: passages into the chat context, citations and related questions out;
- `backends`: the other servables of the server, called in process;
- `engine`: one turn as events (sources, reply chunks, final);
- `turn_input`, `turn_signals`, `search_replies`, `turn_result`: what a turn accepts,
  what its route is decided on, a search turn's reply, and what it answers;
- `servable`: the `assistant` Python servable (Predict);
- `streaming`: the server-streaming gRPC method and the NDJSON REST endpoint;
- `mount`: hosting all of it (and the web page `static/index.html`) in a `ModelServer`;
- `demo`: the scripted conversation of `lepton-tf main` (its gRPC client is `lepton_tf.client.AssistantClient`);
- `calibration`: the routing thresholds measured on data (`lepton-tf eval routing`);
- `routing_thresholds`: the thresholds file that command writes and the router reads.
"""
