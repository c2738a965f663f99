"""The web page with identities, in headless Chromium: each user's page (token in
the URL fragment, sent as a header) shows only what that user may read.

Needs Debian's `chromium` and `chromium-driver` and `selenium`; skips otherwise.
"""

import pytest

import permission_fixtures as pf
from headless_browser import browser, needs_browser, send  # noqa: F401 - a fixture

pytestmark = needs_browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from test_permission_leaks import _server

    root = tmp_path_factory.mktemp("page")
    tokens = root / "tokens.yaml"
    tokens.write_text(pf.tokens_yaml())
    server = _server(pf.build(str(root / "idx"), pf.ALL), tokens)
    yield f"http://127.0.0.1:{server.rest_port}/"
    server.stop(0)


def _ask(browser, url, token, messages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get("about:blank")
    browser.get(f"{url}#token={token}")
    wait = WebDriverWait(browser, 20)
    for i, message in enumerate(messages, 1):
        send(browser, wait, message, i)
    # What the page shows of the answers (the user's own turns hold the probes' words).
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".turn.assistant")]
    shown += [browser.find_element(By.ID, i).text for i in ("sources", "related")]
    return "\n".join(shown)


def test_each_users_page_shows_only_what_they_may_read(page, browser):
    messages = [pf.PROBES[2], "the first one", pf.PROBES[0], "the second one"]
    bob = _ask(browser, page, pf.BOB, messages)
    assert not pf.leaked("bob", bob), bob
    alice = _ask(browser, page, pf.ALICE, messages)
    assert not pf.leaked("alice", alice), alice
    assert "zebra42" in alice  # a leak would show: alice reads the support runbook
