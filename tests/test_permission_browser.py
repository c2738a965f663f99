"""The web page with identities, in headless Chromium: each user's page (token in
the URL fragment, sent as a header) shows only what that user may read.

Needs Debian's `chromium` and `chromium-driver` and `selenium`; skips otherwise.
"""

import shutil

import pytest

import permission_fixtures as pf

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                "(pip install -e '.[test]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless browser test needs chromium and chromedriver "
           "(apt-get install -y chromium chromium-driver; .ci/run does it)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from test_permission_leaks import _server

    root = tmp_path_factory.mktemp("page")
    tokens = root / "tokens.yaml"
    tokens.write_text(pf.tokens_yaml())
    server = _server(pf.build(str(root / "idx"), pf.ALL), tokens)
    yield f"http://127.0.0.1:{server.rest_port}/"
    server.stop(0)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def _ask(browser, url, token, messages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get("about:blank")
    browser.get(f"{url}#token={token}")
    wait = WebDriverWait(browser, 20)
    for i, message in enumerate(messages, 1):
        box = wait.until(ec.element_to_be_clickable((By.ID, "message")))
        box.send_keys(message)
        browser.find_element(By.ID, "send").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                                 ".turn.assistant[data-done]")) == i)
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
