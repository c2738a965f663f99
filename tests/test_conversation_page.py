"""The page with a conversation store, in headless Chromium: rating an answer with
the thumbs and a comment, and a conversation that goes on after the server restarts
(the same tab, then a reload of it).

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and
`selenium` (the `test` extra); skips with the reason otherwise.
"""

from conftest import free_port
from headless_browser import browser, needs_browser, send  # noqa: F401 - a fixture
from stored_conversation import start

from lepton_tf.store import ConversationStore, sqlite_url

pytestmark = needs_browser


def test_rate_an_answer_and_continue_after_a_restart(tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, port = sqlite_url(str(tmp_path / "c.sqlite")), free_port()
    server = start(url, rest_port=port)
    wait = WebDriverWait(browser, 20)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        turn = send(browser, wait, "How do I delete my Facebook account?", 1)
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
        second = send(browser, wait, "what about the second one?", 2)
        assert second.get_attribute("data-route") == "search"
        assert {a.text for a in second.find_elements(By.CSS_SELECTOR, "a.citation")} == {"[2]"}
        browser.refresh()  # the tab keeps its session: the conversation goes on
        first = send(browser, wait, "the first one", 1)
        assert {a.text for a in first.find_elements(By.CSS_SELECTOR, "a.citation")} == {"[1]"}
        assert "Facebook" in first.find_element(By.CSS_SELECTOR, ".reply").text
    finally:
        server.stop(0)
