"""Plain, immutable records produced by the data readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """One turn of an SGD dialogue.

    Attributes:
        speaker: ``"USER"`` or ``"SYSTEM"``.
        utterance: the text of the turn.
        services: services the turn's frames refer to.
        intents: active intent per frame (user turns only; ``"NONE"`` means no
            active intent); empty for system turns.
        acts: sorted dialogue-act names, e.g. ``("INFORM", "REQUEST")``.
    """

    speaker: str
    utterance: str
    services: tuple[str, ...]
    intents: tuple[str, ...]
    acts: tuple[str, ...]


@dataclass(frozen=True)
class Dialogue:
    """One SGD dialogue.

    Attributes:
        dialogue_id: the id from the dataset, e.g. ``"1_00000"``.
        services: services used in the dialogue.
        turns: the turns in order, alternating USER/SYSTEM starting with USER.
    """

    dialogue_id: str
    services: tuple[str, ...]
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class ResponsePair:
    """A (context, system response) pair cut from a dialogue.

    Attributes:
        dialogue_id: the dialogue the pair comes from.
        turn_index: index of the response (SYSTEM) turn in ``Dialogue.turns``.
        context: utterances of the preceding turns, oldest first.
        speakers: speaker of each context utterance, aligned with ``context``.
        response: the system utterance.
        services: services of the response turn.
        intents: active intents of the last user turn before the response.
    """

    dialogue_id: str
    turn_index: int
    context: tuple[str, ...]
    speakers: tuple[str, ...]
    response: str
    services: tuple[str, ...]
    intents: tuple[str, ...]


@dataclass(frozen=True)
class IntentExample:
    """One labelled utterance (Banking77).

    Attributes:
        text: the customer query.
        label: the intent name, e.g. ``"card_arrival"``.
    """

    text: str
    label: str


@dataclass(frozen=True)
class FaqThread:
    """One StackFAQ thread.

    Attributes:
        thread_id: 0-based position of the thread in the XML file.
        queries: crowd-written rephrasings of the information need.
        question: the original StackExchange question title.
        answers: the thread's top answers.
    """

    thread_id: int
    queries: tuple[str, ...]
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class ServiceSchema:
    """One SGD service schema (slots are not kept).

    Attributes:
        service_name: e.g. ``"Banks_1"``.
        description: natural-language description of the service.
        intents: intent name -> natural-language description, in schema order.
    """

    service_name: str
    description: str
    intents: dict[str, str]
