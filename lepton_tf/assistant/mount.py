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
- `POST /v1/assistant:feedback` and `:forget` with gRPC `Feedback` and `Forget`
  (`feedback_api`), when a conversation store is given (`store_url`);
- `POST /v1/assistant:stream` (NDJSON) and the web page at `GET /` and
  `GET /assistant` on the REST port (the page is public, the stream
  endpoint honours `--auth_token`);
- the operator's report at `GET /report` (a page) and `GET /v1/report` (JSON),
  each group's data only to its admins;
- with a store, the audit trail in it, admins' view at `GET /v1/audit`.
"""

from __future__ import annotations

import os

from lepton_tf.assistant import feedback_api
from lepton_tf.assistant import knowledge_base as kb
from lepton_tf.assistant.backends import ServerBackends
from lepton_tf.assistant.engine import CONTEXT_PASSAGES, SEARCH_K, Assistant
from lepton_tf.assistant.routing import Router, default_router, index_has_known_questions
from lepton_tf.assistant.servable import AssistantServable
from lepton_tf.assistant.sessions import SessionStore
from lepton_tf.assistant.stored_sessions import StoredSessions
from lepton_tf.assistant.streaming import (REST_STREAM_PATH, grpc_stream_handler,
                                           rest_stream_route)
from lepton_tf.assistant.turn_input import MAX_MESSAGE_CHARS
from lepton_tf.server.errors import ServingError
from lepton_tf.store.conversation_store import ConversationStore
from lepton_tf.store.metrics import StoreMetrics
from lepton_tf.store.writer import TurnWriter, redacting
from lepton_tf.text.redaction import load_policy

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "index.html")
PAGE_PATHS = ("/", "/assistant")


def assistant_factory(router: Router | None = None, max_sessions: int = 10_000,
                      ttl_s: float = 1800.0, dialogue_turns: list | None = None,
                      names: dict | None = None, max_new_tokens: int | None = None,
                      warm_up: bool = True, search_k: int = SEARCH_K,
                      context_passages: int = CONTEXT_PASSAGES,
                      knowledge_base: str | kb.KnowledgeBase | None = None,
                      smalltalk_turns: tuple | None = None, domain_turns: list | None = None,
                      task_db: str | None = None, task_config: str | None = None,
                      skills: str | None = None, task_tracker: str = "lookup",
                      task_services: tuple | None = None, task_generator: str = "",
                      store_url: str | None = None, retention_days: float | None = None,
                      audit_retention_days: float | None = None, redact=None, redact_text=None, routing_thresholds: str | None = None):
    """A `register_python_servable` factory: `server -> AssistantServable`.

    Args:
        router: the routing rule (default: `routing_thresholds`' thresholds, for an
            index with known questions when `knowledge_base` is such an index folder).
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
        task_db: the example services' SQLite database (`lepton-tf main` builds
            it): task dialogues on, the chat model off (None: no task dialogues).
        task_config: the backends YAML (None: `configs/dialogue/backends.yaml`).
        skills: the intent skills YAML (`assistant.skills`; None: claimed intents
            are refused).
        task_tracker: `lookup` (the lookup-table tracker over the database) or `dst`
            (the learned tracker: the `dst` servable this server hosts).
        task_services: the schema services the tasks offer (None: the example's,
            `tasks.DEFAULT_SERVICES`); any service of SGD's schemas with a bound backend.
        task_generator: the reply generator servable this server hosts (`lepton-tf
            train reply_generator`); its replies pass the value check or are
            replaced by the template ("": template replies).
        store_url: the conversation store (`sqlite:///path` or `postgresql://...`);
            None: sessions in memory only, no turn log, no feedback.
        retention_days: delete stored turns older than this (None: keep).
        audit_retention_days: delete the store's audit records older than this
            (None: as `retention_days`; a turn's record goes with its turn at the latest).
        redact, redact_text: the store writer's redaction hooks (see
            `lepton_tf.store.writer`); None: personal data is replaced by typed
            placeholders under the knowledge base's `redaction.json` policy.
        routing_thresholds: a `lepton-tf eval routing --write` file (None: the
            shipped one); read here, so a malformed file stops the start.
    """
    if task_tracker not in ("lookup", "dst"):
        raise ValueError(f"task_tracker must be lookup or dst, got {task_tracker!r}")
    texts = knowledge_base if isinstance(knowledge_base, kb.KnowledgeBase) \
        else kb.load(knowledge_base)
    if router is None:
        router = default_router(isinstance(knowledge_base, str)
                                and index_has_known_questions(knowledge_base),
                                routing_thresholds)

    intent_skills = None
    if skills:
        from lepton_tf.assistant.skills import load_skills

        intent_skills = load_skills(skills)  # a bad file fails here, before serving

    if store_url is not None:  # a corrupt or foreign store stops the start, clearly
        ConversationStore.open(store_url).close()

    def sessions(server) -> SessionStore:
        if store_url is None:
            return SessionStore(max_sessions, ttl_s)
        default_redact, default_redact_text = redacting(load_policy(
            knowledge_base if isinstance(knowledge_base, str) else None))
        writer = TurnWriter(ConversationStore.open(store_url), store_metrics(server),
                            redact=redact or default_redact,
                            redact_text=redact_text or default_redact_text)
        return StoredSessions(writer, retention_days, max_sessions, ttl_s,
                              audit_retention_days=audit_retention_days)

    def build(server):
        tasks = None
        if task_db:
            from lepton_tf.assistant.tasks import (DEFAULT_SERVICES, TaskSkill,
                                                  hosted_generator, hosted_tracker)

            tracker = hosted_tracker(server.manager, (names or {}).get("dst", "dst")) \
                if task_tracker == "dst" else None
            bound = intent_skills.tasks() if intent_skills is not None else ()
            offered = tuple(task_services or DEFAULT_SERVICES)
            skill_only: dict = {}
            for service, intent in (t.split(".", 1) for t in bound):
                if service not in offered:
                    skill_only[service] = skill_only.get(service, frozenset()) | {intent}
            tasks = TaskSkill.example(task_db, task_config, services=offered + tuple(skill_only),
                                      tracker=tracker, skill_only=skill_only)
            if task_generator:
                tasks.generator = hosted_generator(server.manager, task_generator)
            for task in bound:
                if not tasks.offers(task):
                    raise ValueError(f"{skills}: task {task} is not an intent of SGD's schemas")
        backends = ServerBackends(server.manager, names, dialogue_turns, max_new_tokens,
                                  smalltalk_turns, domain_turns)
        if warm_up:
            backends.dialogue_score("hello")
            backends.domain_score("hello")
        return AssistantServable(Assistant(backends, router, sessions(server), search_k,
                                           context_passages, texts, tasks, intent_skills))
    return build


def page_route(reply, body: bytes) -> None:
    """Sends the web page (a REST route answering through a `ThreadReply`)."""
    with open(PAGE, "rb") as f:
        html = f.read()
    # The page counts characters against the limit the engine enforces.
    html = html.replace(b"{{MAX_MESSAGE_CHARS}}", str(MAX_MESSAGE_CHARS).encode())
    reply.send(200, html, "text/html; charset=utf-8")


REPORT_PATH = "/report"
REPORT_JSON_PATH = "/v1/report"
AUDIT_PATH = "/v1/audit"


READABLE_BATCH = 500  # doc ids a permission check asks `search` about at once


def documents_of_groups(server, name: str = "assistant"):
    """`(viewer, doc ids) -> the ids a member of the viewer's administered groups
    may read` (asked of `search` as a principal in those groups, off the audit
    trail): what the report and the trail show a restricted admin."""
    from lepton_tf.server import audit, identity

    def shown(viewer, doc_ids: list[str]) -> set[str]:
        member = identity.Principal(viewer.name, frozenset(viewer.admin_of))
        with server.manager.servable(name) as servable:
            backends = servable.assistant.backends
            with identity.acting_as(member), audit.scope(None):
                return {d for start in range(0, len(doc_ids), READABLE_BATCH)
                        for d in backends.readable(doc_ids[start:start + READABLE_BATCH])}
    return shown


def report_route(server, name: str = "assistant", as_json: bool = False):
    """`GET /report` (a page) or `GET /v1/report` (JSON): the operator's report of
    the assistant's store. Not public, and scoped to the caller: each group's
    data only to its admins (`store.report_access`); a caller who administers
    no group gets 403."""
    from lepton_tf.server import identity
    from lepton_tf.store.report import build_report
    from lepton_tf.store.report_render import to_html

    def handle(reply, body: bytes) -> None:
        try:
            with server.manager.servable(name) as servable:
                assistant = servable.assistant
                store = getattr(assistant.sessions, "store", None)
                if store is None:
                    reply.send_json(412, {"error": "The assistant keeps no conversation "
                                                   "store: there is nothing to report."})
                    return
                backends = assistant.backends
                embed = backends.embed if getattr(backends, "has", lambda m: False)(
                    "encoder") else None
                report = build_report(store, embed, viewer=identity.current(),
                                      documents_of_groups=documents_of_groups(server, name))
        except PermissionError as e:
            reply.send_json(403, {"error": str(e)})
            return
        except ServingError as e:
            reply.send_json(e.http_status, {"error": e.message})
            return
        if as_json:
            reply.send_json(200, report)
        else:
            reply.send(200, to_html(report).encode("utf-8"), "text/html; charset=utf-8")
    return handle


def store_metrics(server) -> StoreMetrics:
    """The server's one set of store series: the turn writer and the audit trail
    count in it (a second set in the same registry would be refused)."""
    metrics = getattr(server, "store_metrics", None)
    if metrics is None:
        metrics = server.store_metrics = StoreMetrics(server.metrics.registry)
    return metrics


def keep_audit_in_store(server, store_url: str, name: str = "assistant") -> None:
    """Makes the conversation store the server's audit sink (beside an
    `--audit_log` file when there is one: both get every record), and serves
    the admins' view of it at `GET /v1/audit`."""
    from lepton_tf.server.audit import AuditRoute, AuditSinks
    from lepton_tf.store.audit_log import StoreAuditLog

    trail = StoreAuditLog(ConversationStore.open(store_url), store_metrics(server))
    server.audit = trail if server.audit is None else AuditSinks([trail, server.audit])
    server.add_rest_route("GET", AUDIT_PATH, AuditRoute(server.audit,
                                                        documents_of_groups(server, name)))


def mount_assistant(server, name: str = "assistant", **factory_options) -> None:
    """Hosts the assistant servable, its streaming gRPC method, REST stream and page."""
    server.register_python_servable(name, assistant_factory(**factory_options))
    server.add_generic_rpc_handlers([grpc_stream_handler(server, name)])
    server.add_rest_route("POST", REST_STREAM_PATH, rest_stream_route(server, name))
    feedback_api.mount(server, name)
    server.add_rest_route("GET", REPORT_PATH, report_route(server, name))
    server.add_rest_route("GET", REPORT_JSON_PATH, report_route(server, name, as_json=True))
    if factory_options.get("store_url"):
        keep_audit_in_store(server, factory_options["store_url"], name)
    for path in PAGE_PATHS:
        server.add_rest_route("GET", path, page_route, public=True)
