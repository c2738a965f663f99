"""The learned reply generator: its delexicalised training examples from SGD's system
acts, a tiny training run of the task, and the assistant with `task_generator` on: a
generated reply, its placeholders filled from the acts, is sent only when it states
exactly the acts' values, else the template is."""

import gzip
import json
import re

import numpy as np
import pytest
from conftest import free_port
from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models

from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import Router
from lepton_tf.server.app import ModelServer, ServerOptions
from lepton_tf.server.servable import Signature, TensorSpec

DIALOGUE = {"dialogue_id": "1_00000", "services": ["Restaurants_1"], "turns": [
    {"speaker": "USER", "utterance": "Find me a place to eat in San Jose.", "frames": [
        {"service": "Restaurants_1", "slots": [], "actions": [
            {"act": "INFORM", "slot": "city", "values": ["San Jose"]}],
         "state": {"active_intent": "FindRestaurants", "requested_slots": [],
                   "slot_values": {"city": ["San Jose"]}}}]},
    {"speaker": "SYSTEM", "utterance": "What kind of food?", "frames": [
        {"service": "Restaurants_1", "slots": [], "actions": [
            {"act": "REQUEST", "slot": "cuisine", "values": []}]}]},
    {"speaker": "USER", "utterance": "Italian.", "frames": [
        {"service": "Restaurants_1", "slots": [], "actions": [
            {"act": "INFORM", "slot": "cuisine", "values": ["Italian"]}],
         "state": {"active_intent": "FindRestaurants", "requested_slots": [],
                   "slot_values": {"city": ["San Jose"], "cuisine": ["Italian"]}}}]},
    {"speaker": "SYSTEM", "utterance": "How about Arcadia in San Jose?", "frames": [
        {"service": "Restaurants_1", "slots": [], "actions": [
            {"act": "OFFER", "slot": "restaurant_name", "values": ["Arcadia"]},
            {"act": "OFFER", "slot": "city", "values": ["San Jose"]}]}]},
]}


def test_training_examples_are_delexicalised_acts_and_replies():
    import copy

    from lepton_tf.tasks.reply_generator import act_examples

    examples = list(act_examples([DIALOGUE]))
    assert examples == [
        ("[DOC] [1] acts: request cuisine", "What kind of food?"),
        ("[DOC] [1] acts: offer [restaurant_name] ; offer [city]",
         "How about [restaurant_name] in [city]?")]
    # A turn that says a value otherwise, or holds a value the acts do not, is left
    # out: the model must only ever write values through placeholders.
    other = copy.deepcopy(DIALOGUE)
    other["turns"][3]["utterance"] = "How about Arcadia in SJ?"
    assert [r for _, r in act_examples([other])] == ["What kind of food?"]
    other["turns"][3]["utterance"] = "How about Arcadia in San Jose at 7?"
    assert [r for _, r in act_examples([other])] == ["What kind of food?"]


def test_the_task_trains_from_sgd_files_and_its_loss_falls(tmp_path):
    """A tiny model with the copy head, two epochs on the two examples of an
    SGD-format folder."""
    from lepton_tf.tasks.reply_generator import ReplyGeneratorTask
    from lepton_tf.training import Trainer
    from lepton_tf.training.config import TrainConfig

    folder = tmp_path / "train"
    folder.mkdir()
    with gzip.open(folder / "dialogues_001.json.gz", "wt") as fh:
        json.dump([DIALOGUE], fh)
    config = TrainConfig(
        name="reply_generator", output_dir=str(tmp_path / "run"), seed=3, epochs=2,
        steps_per_epoch=4, batch_size=2, learning_rate=3e-3, backup_every_steps=4,
        model={"context_length": 64, "reply_length": 12, "hidden_dim": 16,
               "intermediate_dim": 32, "num_encoder_layers": 1, "num_decoder_layers": 1,
               "num_heads": 2, "dropout": 0.0, "max_context_turns": 3, "max_length": 17,
               "max_passages": 2, "passage_length": 24, "copy_attention": True,
               "copy_key_dim": 8},
        data={"vocab": "vocab/chat-v2.txt", "train": str(folder), "validation": None,
              "label_smoothing": 0.0})
    model = Trainer(config, verbose=0).fit(ReplyGeneratorTask())
    losses = model.history.history["loss"]
    assert model.optimizer.iterations.numpy() == 8
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


class ScriptedGenerator:
    """A servable with the chat signature: it reads the acts' placeholders from the
    context and asks about them (`mode` "adds": plus a number the acts do not hold;
    "claims": says it is booked, with every placeholder; "repeats": one placeholder
    twice; "drops": all but the last)."""

    name, version = "reply_generator", 1

    def __init__(self):
        self.seen, self.mode = [], "faithful"

    def close(self):
        pass

    @property
    def signatures(self):
        return {"serving_default": Signature(
            {"context": TensorSpec("context", "string", (None,))},
            {"reply": TensorSpec("reply", "string", (None,))})}

    def run(self, signature_name, inputs):
        replies = []
        for raw in inputs["context"]:
            context = raw.decode()
            self.seen.append(context)
            placeholders = re.findall(r"\[[a-z_]+\]", context)
            said = ", ".join(placeholders)
            reply = {"faithful": f"Shall I book {said}?",
                     "adds": f"Shall I book {said}? It seats 12.",
                     "claims": f"Your table is booked: {said}.",
                     "repeats": f"Shall I book {said}, {placeholders[0]}?",
                     "drops": f"Shall I book {', '.join(placeholders[:-1])}?"}[self.mode]
            replies.append(reply.encode())
        return {"reply": np.array(replies, object)}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from lepton_tf.dialogue import example_db

    db = tmp_path_factory.mktemp("db") / "example.sqlite"
    example_db.build_example_db(db)
    generator = ScriptedGenerator()
    s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                    python_servables={**conversation_models(), "reply_generator": generator})
    mount_assistant(s, router=Router(search_threshold=0.3, dialogue_threshold=0.6),
                    dialogue_turns=DIALOGUE_TURNS, search_k=3, domain_turns=DOMAIN_TURNS,
                    task_db=str(db), task_generator="reply_generator")
    s.start()
    yield s, generator
    s.stop(0)


def test_a_generated_reply_is_sent_only_when_it_states_exactly_the_acts(served):
    from lepton_tf.client.assistant import AssistantClient

    server, generator = served
    client = AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id="generated",
                             timeout_s=20)
    confirm = client.ask("Book a table at Arcadia in San Jose at 7 pm")
    assert confirm["route"] == "task" and confirm["task"]["reply_replaced"] is False
    # Filled from the acts, values as a reply says them.
    assert confirm["reply"].startswith("Shall I book Arcadia, San Jose, 7 pm, ")
    # The generator sees the acts' slots, never a value nor the user's words.
    assert "confirm [time]" in generator.seen[-1] and "Arcadia" not in generator.seen[-1]
    for mode, time in (("repeats", "6 pm"), ("drops", "10 pm")):  # a slot twice, one left out
        generator.mode = mode
        changed = client.ask(f"make it {time}")
        assert changed["task"]["reply_replaced"] is True, (mode, changed)
        assert changed["reply"].startswith("Please confirm:") and time in changed["reply"]
    generator.mode = "adds"
    again = client.ask("make it 8 pm")
    assert again["task"]["reply_replaced"] is True and "12" not in again["reply"]
    assert again["reply"].startswith("Please confirm:") and "8 pm" in again["reply"]
    generator.mode = "claims"  # every value right, but it says booked before the yes
    claimed = client.ask("make it 9 pm")
    assert claimed["task"]["reply_replaced"] is True and "booked" not in claimed["reply"]
    assert claimed["reply"].startswith("Please confirm:") and "9 pm" in claimed["reply"]
    generator.mode = "faithful"
    done = client.ask("yes")  # the outcome is always the template's
    assert done["reply"].startswith("Done: it is booked.")
    assert done["task"]["reply_replaced"] is False
