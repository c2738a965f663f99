"""Headless Chromium for the page tests: the skip mark, the `browser` fixture, and
typing a message into the page.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and
`selenium` (the `test` extra); the tests that use it skip with the reason otherwise.
"""

import shutil

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                "(pip install -e '.[test]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless browser test needs chromium and chromedriver "
           "(apt-get install -y chromium chromium-driver; .ci/run does it)")


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


def send(browser, wait, message: str, count: int):
    """Types `message`, sends it, and waits until `count` assistant turns are done.

    Returns:
        The last assistant turn's element.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    box = wait.until(ec.element_to_be_clickable((By.ID, "message")))
    box.send_keys(message)
    browser.find_element(By.ID, "send").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                             ".turn.assistant[data-done]")) == count)
    return browser.find_elements(By.CSS_SELECTOR, ".turn.assistant")[-1]
