"""End to end in headless Chromium: the web page streams an answer with a citation.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and
`selenium` (the `test` extra); skips with the reason otherwise.
"""

import pytest

from assistant_fakes import fake_models
from conftest import free_port
from headless_browser import browser, needs_browser, send  # noqa: F401 - a fixture
from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import Router
from lepton_tf.server.app import ModelServer, ServerOptions

pytestmark = needs_browser


@pytest.fixture(scope="module")
def page_url():
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                         python_servables=fake_models())
    mount_assistant(server, router=Router(0.9, 0.9), dialogue_turns=["hello there"],
                    search_k=3)
    server.start()
    yield f"http://127.0.0.1:{server.rest_port}/"
    server.stop(0)


def test_question_gets_streamed_answer_with_citation(page_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page_url)
    wait = WebDriverWait(browser, 15)
    turn = send(browser, wait, "How do I reset my password?", 1)
    assert turn.get_attribute("data-done") == "1" and turn.get_attribute("data-route") == "search"
    citation = turn.find_element(By.CSS_SELECTOR, "a.citation")
    assert citation.text == "[1]"
    sources = browser.find_elements(By.CSS_SELECTOR, "#sources li")
    assert [s.get_attribute("id") for s in sources] == ["src-1", "src-2"]
    assert "Reset a password" in sources[0].text
    citation.click()  # citations are links to the sources panel
    assert "active" in sources[0].get_attribute("class")
    related = browser.find_elements(By.CSS_SELECTOR, "#related button")
    assert [b.text for b in related] == ["Close an account", "Card lost"]
    related[0].click()  # asks the related question
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                             ".turn.assistant[data-done]")) == 2)
    users = browser.find_elements(By.CSS_SELECTOR, ".turn.user")
    assert users[-1].text == "Close an account"


@pytest.fixture(scope="module")
def conversation_url():
    from test_assistant_conversation import conversation_server

    server = conversation_server()
    yield f"http://127.0.0.1:{server.rest_port}/"
    server.stop(0)


def test_mixed_conversation_in_the_page(conversation_url, browser):
    """The mixed conversation typed into the page: each turn's reply, route, intent
    and not-found flag as the page shows them (data attributes of the turn)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from conversation_fakes import SCRIPT, check_conversation

    browser.get(conversation_url)
    wait = WebDriverWait(browser, 15)
    turns = []
    for i, (message, kind) in enumerate(SCRIPT, 1):
        turn = send(browser, wait, message, i)
        assert turn.get_attribute("data-done") == "1"
        shown = [(li.find_element(By.TAG_NAME, "strong").text, li.text)
                 for li in browser.find_elements(By.CSS_SELECTOR, "#sources li")] \
            if turn.get_attribute("data-route") == "search" else []
        meta = turn.find_element(By.CSS_SELECTOR, ".meta").text
        intent = turn.get_attribute("data-intent") or ""
        assert (intent in meta) if intent else ("intent" not in meta), meta
        turns.append({"message": message, "kind": kind,
                      "reply": turn.find_element(By.CSS_SELECTOR, ".reply").text,
                      "route": turn.get_attribute("data-route"), "intent": intent,
                      "not_found": turn.get_attribute("data-not-found") == "1",
                      "shown": shown})
    check_conversation(turns)


def test_a_turn_without_sources_clears_the_panel_and_long_text_is_kept(page_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page_url)
    wait = WebDriverWait(browser, 15)
    box = wait.until(ec.element_to_be_clickable((By.ID, "message")))
    box.send_keys("How do I reset my password?", Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".turn.assistant[data-done]"))
    assert browser.find_elements(By.CSS_SELECTOR, "#sources li")
    assert browser.find_elements(By.CSS_SELECTOR, "#related button")
    box.send_keys("Thanks!", Keys.ENTER)  # small talk: no sources, no related questions
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                             ".turn.assistant[data-done]")) == 2)
    turn = browser.find_elements(By.CSS_SELECTOR, ".turn.assistant")[-1]
    assert turn.get_attribute("data-route") != "search"
    assert browser.find_elements(By.CSS_SELECTOR, "#sources li") == []
    assert browser.find_elements(By.CSS_SELECTOR, "#related button") == []
    # One character over the server's 2,000: counted before sending, refused
    # in the page, the text left in the box to shorten.
    long_text = "é" * 2001
    browser.execute_script("arguments[0].value = arguments[1];"
                           "arguments[0].dispatchEvent(new Event('input'));", box, long_text)
    assert browser.find_element(By.ID, "count").text == "2001 / 2000"
    assert "over" in browser.find_element(By.ID, "count").get_attribute("class")
    assert not browser.find_element(By.ID, "send").is_enabled()
    box.send_keys(Keys.ENTER)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".turn.user")) == 2  # nothing sent
    assert box.get_attribute("value") == long_text
    box.send_keys(Keys.BACKSPACE)  # at the limit: allowed again
    assert browser.find_element(By.ID, "send").is_enabled()
    assert "over" not in browser.find_element(By.ID, "count").get_attribute("class")


@pytest.fixture(scope="module")
def task_url(tmp_path_factory):
    from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models

    from lepton_tf.dialogue import example_db

    db = tmp_path_factory.mktemp("db") / "example.sqlite"
    example_db.build_example_db(db)
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                         python_servables=conversation_models())
    mount_assistant(server, router=Router(search_threshold=0.3, dialogue_threshold=0.6),
                    dialogue_turns=DIALOGUE_TURNS, search_k=3, domain_turns=DOMAIN_TURNS,
                    task_db=str(db))
    server.start()
    yield f"http://127.0.0.1:{server.rest_port}/", db
    server.stop(0)


def test_task_card_confirms_a_booking_with_its_button(task_url, browser):
    """A booking in the page: the task card shows the tracked values and the backend
    call; the Confirm button answers the confirmation and the table is booked."""
    import sqlite3

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, db = task_url
    browser.get(url)
    wait = WebDriverWait(browser, 20)

    turn = send(browser, wait, "Book a table at Arcadia in San Jose tomorrow at 7 pm", 1)
    assert turn.get_attribute("data-route") == "task"
    card = turn.find_element(By.CSS_SELECTOR, ".task-card")
    assert "Restaurants_1 · ReserveRestaurant" in card.text and "restaurant name: Arcadia" in card.text
    card.find_element(By.XPATH, ".//button[text()='Confirm']").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                             ".turn.assistant[data-done]")) == 2)
    done = browser.find_elements(By.CSS_SELECTOR, ".turn.assistant")[-1]
    assert "Done: it is booked." in done.text and "408-278-4555" in done.text
    assert "backend example_db: ReserveRestaurant(" in done.find_element(
        By.CSS_SELECTOR, ".task-card").text
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM reservations").fetchone()[0] == 1
