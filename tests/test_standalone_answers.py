"""Replies that stand alone: whole sentences, never a dangling opener, values verbatim."""

from lepton_tf.assistant.answers import extractive_answer
from lepton_tf.assistant.grounding import RetrievedPassage as Passage
from lepton_tf.ingest.parsers import parse_bytes


def _answer(question, *texts):
    passages = [Passage(f"d{i}", f"Title {i}", text, 0.5) for i, text in enumerate(texts, 1)]
    return extractive_answer(question, passages)[0]


def test_an_i_e_sentence_comes_with_the_sentence_it_explains():
    reply = _answer(
        "youtube video example",
        "YouTube links can start playback at a given time by adding the start time to the "
        "link. i.e. http://www.youtube.com/watch?v=xxxxxxxxxxxx#t=2m0s for your youtube "
        "video example.")
    assert reply.startswith("YouTube links can start playback at a given time"), reply
    assert "#t=2m0s" in reply


def test_otherwise_is_never_the_first_word():
    reply = _answer(
        "best answer to move gmail filters",
        "Export the filters from the settings page and import them in the new account. "
        "Otherwise mark4o has the best answer for gmail filters: follow his instructions.")
    assert not reply.lower().startswith("otherwise"), reply
    assert reply.startswith("Export the filters"), reply


def test_a_bare_link_comes_with_its_introduction():
    reply = _answer(
        "boomeranggmail schedule email",
        "To schedule an email in Gmail, install the Boomerang extension.\n"
        "http://www.boomeranggmail.com/schedule-email")
    assert reply.startswith("To schedule an email in Gmail"), reply


def test_an_extract_that_cannot_stand_alone_quotes_the_passage_opening():
    reply = _answer(
        "which answer about gmail filters",
        "Otherwise mark4o has the best answer about gmail filters. As above, gmail filters "
        "are the way.\n\nMore text follows here.")
    assert reply.startswith("Otherwise mark4o has the best answer about gmail filters. As "
                            "above, gmail filters are the way. [1]"), reply
    assert reply.endswith('[1] (The opening of source 1 ("Title 1"): open it for the rest.)')


def test_a_hard_wrapped_value_is_answered_whole_and_verbatim():
    source = ("# Events\n\nBy default, a maximum of `10` listeners can be registered for any "
              "single\nevent. This limit can be changed for individual `EventEmitter` "
              "instances\nusing the `emitter.setMaxListeners(n)` method.\n")
    [section] = parse_bytes(source.encode(), "events.md")
    reply = _answer("default maximum number of listeners for any single event", section.text)
    assert reply.startswith("By default, a maximum of `10` listeners can be registered for any "
                            "single event."), reply
    assert "single." not in reply


def test_a_command_gets_no_full_stop():
    reply = _answer("install pypdf crypto extra",
                    "For AES encryption install the crypto extra:\n\npip install pypdf[crypto]")
    assert "pip install pypdf[crypto] [1]" in reply and "pypdf[crypto]." not in reply, reply


def test_related_questions_ask_about_sections_not_heading_paths():
    from lepton_tf.assistant.grounding import related_questions

    passages = [Passage("a#0", "Global objects > Class: WritableStreamDefaultWriter", "x", 0.9),
                Passage("b#1", "Beam YAML Join > Fields", "y", 0.8),
                Passage("c#2", "How do I reset my password?", "z", 0.7)]
    related = related_questions(passages, exclude=None)
    assert related == ["What about Class: WritableStreamDefaultWriter, in Global objects?",
                       "What about Fields, in Beam YAML Join?", "How do I reset my password?"]
    assert not any(" > " in q for q in related)
