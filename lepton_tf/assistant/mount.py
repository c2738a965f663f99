"""Hosting the assistant in a `ModelServer`: servable, streaming gRPC, REST, web page.

```python
from lepton_tf.assistant.mount import mount_assistant

server = ModelServer(ServerOptions(model_config_file=..., ...),
                     python_servables={"search": search_factory("indexes/stackfaq")})
mount_assistant(server)   # before server.start()
server.start()
```

or `lepton-tf serve --model_config_file=... --search_index=indexes/stackfaq --assistant`.
This hosts (all on the server's own ports):

- the `assistant` servable (gRPC/REST Predict, `lepton_tf.assistant.servable`),
  built when the server starts, calling `intent`, `search`, `chat` and
  `encoder` in process;
- the gRPC streaming method `/lepton.assistant.v1.Assistant/Stream`;
- `POST /v1/assistant:stream` (NDJSON) and the web page at `GET /` and
  `GET /assistant` on the REST port (the page is public, the stream
  endpoint honours `--auth_token`).
"""

from __future__ import annotations

import os

from lepton_tf.assistant import knowledge_base as kb
from lepton_tf.assistant.backends import ServerBackends
from lepton_tf.assistant.engine import CONTEXT_PASSAGES, MAX_MESSAGE_CHARS, SEARCH_K, Assistant
from lepton_tf.assistant.routing import Router, default_router, index_has_known_questions
from lepton_tf.assistant.servable import AssistantServable
from lepton_tf.assistant.sessions import SessionStore
from lepton_tf.assistant.streaming import (REST_STREAM_PATH, grpc_stream_handler,
                                           rest_stream_route)

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "index.html")
PAGE_PATHS = ("/", "/assistant")


def assistant_factory(router: Router | None = None, max_sessions: int = 10_000,
                      ttl_s: float = 1800.0, dialogue_turns: list | None = None,
                      names: dict | None = None, max_new_tokens: int | None = None,
                      warm_up: bool = True, search_k: int = SEARCH_K,
                      context_passages: int = CONTEXT_PASSAGES,
                      knowledge_base: str | kb.KnowledgeBase | None = None,
                      smalltalk_turns: tuple | None = None, domain_turns: list | None = None):
    """A `register_python_servable` factory: `server -> AssistantServable`.

    Args:
        router: routing thresholds (default: the calibrated ones, for an index
            with known questions when `knowledge_base` is such an index folder).
        max_sessions, ttl_s: the session store's memory bound and expiry.
        dialogue_turns: reference turns for the dialogue score (None: SGD sample).
        names: other model names (`intent`, `search`, `chat`, `encoder`).
        max_new_tokens: the chat reply budget (None: the chat servable's default).
        warm_up: embed the dialogue reference set now rather than on the first turn.
        search_k, context_passages: passages retrieved, and answered from.
        knowledge_base: the index folder whose `assistant.json` holds the texts
            (see `knowledge_base`), or the texts themselves (None: defaults).
        smalltalk_turns: `(turns, categories)` of the small-talk score (None:
            `smalltalk.TURNS`).
        domain_turns: the intent domain's reference requests (None: a Banking77
            train sample with the default `dialogue_turns`, else none; []: route
            without the domain score).
    """
    texts = knowledge_base if isinstance(knowledge_base, kb.KnowledgeBase) \
        else kb.load(knowledge_base)
    if router is None:
        router = default_router(isinstance(knowledge_base, str)
                                and index_has_known_questions(knowledge_base))

    def build(server):
        backends = ServerBackends(server.manager, names, dialogue_turns, max_new_tokens,
                                  smalltalk_turns, domain_turns)
        if warm_up:
            backends.dialogue_score("hello")
            backends.domain_score("hello")
        return AssistantServable(Assistant(backends, router,
                                           SessionStore(max_sessions, ttl_s), search_k,
                                           context_passages, texts))
    return build


def page_route(reply, body: bytes) -> None:
    """Sends the web page (a REST route answering through a `ThreadReply`)."""
    with open(PAGE, "rb") as f:
        html = f.read()
    # The page counts characters against the limit the engine enforces.
    html = html.replace(b"{{MAX_MESSAGE_CHARS}}", str(MAX_MESSAGE_CHARS).encode())
    reply.send(200, html, "text/html; charset=utf-8")


def mount_assistant(server, name: str = "assistant", **factory_options) -> None:
    """Hosts the assistant servable, its streaming gRPC method, REST stream and page."""
    server.register_python_servable(name, assistant_factory(**factory_options))
    server.add_generic_rpc_handlers([grpc_stream_handler(server, name)])
    server.add_rest_route("POST", REST_STREAM_PATH, rest_stream_route(server, name))
    for path in PAGE_PATHS:
        server.add_rest_route("GET", path, page_route, public=True)
