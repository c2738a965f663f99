"""The page with a conversation store, in headless Chromium: rating an answer with
the thumbs and a comment, and a conversation that goes on after the server restarts
(the same tab, then a reload of it).

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and
`selenium` (the `test` extra); skips with the reason otherwise.
"""

import pytest
from conftest import free_port
from stored_conversation import start
from test_assistant_browser import CHROMEDRIVER, CHROMIUM, browser  # noqa: F401 - fixture

from lepton_tf.store import ConversationStore, sqlite_url

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless browser test needs chromium and chromedriver "
           "(apt-get install -y chromium chromium-driver; .ci/run does it)")


def _ask(browser, wait, message, count):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    box = wait.until(ec.element_to_be_clickable((By.ID, "message")))
    box.send_keys(message)
    browser.find_element(By.ID, "send").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                             ".turn.assistant[data-done]")) == count)
    return browser.find_elements(By.CSS_SELECTOR, ".turn.assistant")[-1]


def test_rate_an_answer_and_continue_after_a_restart(tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, port = sqlite_url(str(tmp_path / "c.sqlite")), free_port()
    server = start(url, rest_port=port)
    wait = WebDriverWait(browser, 20)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        turn = _ask(browser, wait, "How do I delete my Facebook account?", 1)
        assert turn.get_attribute("data-done") == "1", turn.text
        turn.find_element(By.CSS_SELECTOR, ".rating input").send_keys("wrong page")
        turn.find_element(By.CSS_SELECTOR, "button.rate-down").click()
        wait.until(lambda d: turn.find_element(By.CSS_SELECTOR, ".rating")
                   .get_attribute("data-rated") == "down")
        shown = [li.get_attribute("id") for li in
                 browser.find_elements(By.CSS_SELECTOR, "#sources li")]
        assert shown == ["src-1", "src-2"]
    finally:
        server.stop(0)
    store = ConversationStore.open(url)
    rated = store.feedback()
    assert [(f["rating"], f["comment"]) for f in rated] == [("down", "wrong page")]
    assert rated[0]["turn_id"] == turn.get_attribute("data-turn-id")

    server = start(url, rest_port=port)  # a new process's worth of state: only the store
    try:
        second = _ask(browser, wait, "what about the second one?", 2)
        assert second.get_attribute("data-route") == "search"
        assert {a.text for a in second.find_elements(By.CSS_SELECTOR, "a.citation")} == {"[2]"}
        browser.refresh()  # the tab keeps its session: the conversation goes on
        first = _ask(browser, wait, "the first one", 1)
        assert {a.text for a in first.find_elements(By.CSS_SELECTOR, "a.citation")} == {"[1]"}
        assert "Facebook" in first.find_element(By.CSS_SELECTOR, ".reply").text
    finally:
        server.stop(0)
