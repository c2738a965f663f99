"""The scripted conversation `lepton-tf main` ends with: the assistant over gRPC."""

from __future__ import annotations

import textwrap
import uuid

# Mixed, as a user talks: a search, then small talk and a booking after it (a table
# from the example database, offered, confirmed, then booked).
DEMO_TURNS = ("How can I delete my Facebook account?",
              "Hi there!",
              "Book a table for two at an Italian place in San Jose tonight at 7",
              "Yes please",
              "Yes",
              "Thanks!",
              "How do I make strikethrough text in GitHub markdown?",
              "What's my bank card's PIN?")


def run_scripted_conversation(target: str, turns=DEMO_TURNS, stream: bool = True,
                              timeout_s: float = 60.0) -> None:
    """Runs `turns` through the `assistant` at `target` (HOST:PORT) and prints them.

    Each answer is streamed (sources first, then the reply as it comes) with
    `stream=True`, else asked by Predict; citations and related questions follow.
    A failed turn (e.g. no `assistant` hosted: mount it with
    `lepton_tf.assistant.mount.mount_assistant(server)` before `server.start()`)
    is printed with its status code and ends the conversation.
    """
    import grpc

    from lepton_tf.client.assistant import AssistantClient

    client = AssistantClient(target, session_id=f"demo-{uuid.uuid4().hex[:8]}",
                             timeout_s=timeout_s)
    for message in turns:
        print(f"user:      {message}", flush=True)
        try:
            final = _turn(client, message, stream)
        except grpc.RpcError as e:
            print(f"\n           [failed: {e.code().name}: {e.details()}]", flush=True)
            return
        print_answer(final)


def stream_turn(client, message: str, prompt: str = "assistant: ") -> dict:
    """Prints the reply as it streams in; the final event."""
    final = None
    print(prompt, end="", flush=True)
    for event in client.stream(message):
        if event["type"] == "delta":
            print(event["text"], end="", flush=True)
        elif event["type"] == "final":
            final = event
    print()
    return final


def _turn(client, message: str, stream: bool) -> dict:
    if stream:
        return stream_turn(client, message)
    final = client.ask(message)
    print(f"assistant: {final['reply']}")
    return final


def print_answer(final: dict) -> None:
    """The turn's route (and intent where shown), sources, closest matches, related."""
    timings = final.get("timings_ms", {})
    print(f"           [route {final['route']}"
          + (f", intent {final['intent']}" if final["intent"] else "")
          + f", {float(timings.get('total', 0)):.0f} ms]")
    if final.get("handoff"):
        print("           [handed off to a person]")
    task = final.get("task") or {}
    if task:
        state = task.get("state", {})
        values = ", ".join(f"{k}={v[0]}" for k, v in state.get("slot_values", {}).items() if v)
        print(f"           [task {task.get('service')}.{task.get('intent')}: {values}"
              + (f"; waiting for {task['pending']}" if task.get("pending") else "") + "]")
        call = task.get("call")
        if call:
            request = call["call"]
            shown = call["error"] or f"{len(call['results'])} row(s)"
            print(f"           [backend {call['backend'] or '-'}: {request['intent']}"
                  f"({', '.join(f'{k}={v}' for k, v in request['arguments'].items())}) "
                  f"-> {shown}]")
    for c in final["citations"]:
        snippet = textwrap.shorten(c["snippet"], 90)
        print(f"           [{int(c['n'])}] {c['title']} ({c['doc_id']}, "
              f"score {float(c['score']):.3f}): {snippet}")
    if final["related_questions"]:
        label = "closest matches" if final.get("not_found") else "related"
        print(f"           {label}: " + " | ".join(final["related_questions"]))
    print(flush=True)
