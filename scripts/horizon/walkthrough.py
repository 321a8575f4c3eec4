"""A member's walk through Horizon's Project > Container > Containers (zun-ui) in headless
Chromium, driven by Selenium: log in, launch a container, see it Running, read its logs, stop
and delete it, with a screenshot of each step. Run in the Horizon venv (Selenium is there) by
tests/integration/test_horizon.py:

    walkthrough.py HORIZON_URL REGION NAME LOG_LINE SCREENSHOTS_DIR

REGION is the catalog region whose `container` endpoint is the Higgins under test: Horizon picks
a session's services region from the `services_region` cookie at login, as its region menu
would leave it. Prints what the browser saw as JSON on stdout; a step that times out leaves
failed.png and failed.html in SCREENSHOTS_DIR and exits non-zero."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium and chromium-driver (start-horizon.sh)
CHROMEDRIVER = "/usr/bin/chromedriver"
STEP_TIMEOUT = 30.0
# AngularJS has settled when the page is loaded and $http has nothing in flight.
SETTLED_JS = """
if (document.readyState !== 'complete' || !window.angular) { return false; }
var injector = angular.element(document.body).injector();
return !!injector && injector.get('$http').pendingRequests.length === 0;
"""


def open_browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    # Given the driver's path, Selenium Manager (which would download one) is not asked.
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Walk:
    """The browser, the screenshots folder and the time each step took."""

    def __init__(self, browser: WebDriver, horizon: str, screenshots: Path) -> None:
        self.browser = browser
        self.horizon = horizon
        self.screenshots = screenshots
        self.steps: dict[str, float] = {}
        self._started = time.monotonic()
        self._shots = 0

    def wait(self, condition: Callable[[WebDriver], Any], timeout: float = STEP_TIMEOUT) -> Any:
        return WebDriverWait(self.browser, timeout, poll_frequency=0.1).until(condition)

    def element(self, xpath: str) -> WebElement:
        element: WebElement = self.wait(shown.element_to_be_clickable((By.XPATH, xpath)))
        return element

    def settled(self) -> None:
        self.wait(lambda browser: browser.execute_script(SETTLED_JS))

    def done(self, step: str) -> None:
        """Close a step: its screenshot (numbered in order) and its time."""
        self._shots += 1
        self.browser.save_screenshot(str(self.screenshots / f"{self._shots:02d}-{step}.png"))
        now = time.monotonic()
        self.steps[step] = round(now - self._started, 2)
        self._started = now

    def reload_until(self, probe: Callable[[], Any], what: str,
                     timeout: float = STEP_TIMEOUT) -> Any:
        """Reload the page until `probe` holds once it has settled: zun-ui's table does not
        poll, nor does it refresh after a create (see the create step)."""
        deadline = time.monotonic() + timeout
        while True:
            self.settled()
            seen = probe()
            if seen:
                return seen
            if time.monotonic() > deadline:
                raise TimeoutException(f"{what}: not seen within {timeout} s")
            self.browser.refresh()


def row_status(walk: Walk, name: str) -> str | None:
    """The Status cell of the containers table's row for `name`, None without a row."""
    rows = walk.browser.find_elements(By.XPATH, f"//tr[.//a[normalize-space(.)='{name}']]")
    if not rows:
        return None
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    header = [th.text.strip() for th in walk.browser.find_elements(By.XPATH, "//thead//th")]
    return str(cells[header.index("Status")].text.strip() if "Status" in header else rows[0].text)


def log_in(walk: Walk, region: str) -> None:
    containers = "/project/container/containers/"
    walk.browser.get(f"{walk.horizon}/auth/login/?next={containers}")
    walk.browser.add_cookie({"name": "services_region", "value": region})
    walk.wait(shown.visibility_of_element_located((By.ID, "id_username"))).send_keys(
        "demo_member")
    walk.browser.find_element(By.ID, "id_password").send_keys("secret")
    walk.done("login")
    walk.browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    walk.element("//button[contains(normalize-space(.), 'Create Container')]")
    walk.settled()
    walk.done("containers")


def launch(walk: Walk, name: str, command: str) -> None:
    walk.element("//button[contains(normalize-space(.), 'Create Container')]").click()
    walk.wait(shown.visibility_of_element_located((By.ID, "image"))).send_keys("busybox:local")
    walk.browser.find_element(By.ID, "name").send_keys(name)
    walk.browser.find_element(By.ID, "command").send_keys(command)
    create = walk.element("//div[contains(@class, 'modal-footer')]"
                          "//button[normalize-space(.)='Create']")
    walk.done("create-form")
    create.click()
    walk.wait(shown.invisibility_of_element_located((By.CSS_SELECTOR, ".modal-dialog")))


def see_running(walk: Walk, name: str) -> str | None:
    # zun-ui 18's createContainer chains the removed $http .error() on Horizon 27's promise:
    # the POST is sent, then the script stops, the modal closes and the table is not reloaded.
    walk.reload_until(lambda: row_status(walk, name) == "Running", f"{name} Running")
    walk.done("running")
    return row_status(walk, name)


def read_logs(walk: Walk, name: str, line: str) -> tuple[str, str]:
    walk.element(f"//a[normalize-space(.)='{name}']").click()
    walk.wait(shown.url_contains("/ngdetails/"))
    uuid = walk.browser.current_url.rstrip("/").rsplit("/", 1)[-1]

    def logs() -> str:
        walk.element("//a[normalize-space(.)='Logs']").click()
        text: str = walk.browser.find_element(By.CSS_SELECTOR, "pre.logs").text
        return text if line in text else ""

    text: str = walk.reload_until(logs, f"{line!r} in the Logs tab")
    walk.done("logs")
    return uuid, text


def delete(walk: Walk, name: str) -> bool:
    """Stop and Delete (the action zun-ui offers for a Running container) from its details."""
    walk.element("//button[contains(@class, 'split-caret')]").click()
    walk.element("//a[@role='menuitem'][normalize-space(.)='Stop and Delete Container']").click()
    confirm = walk.element("//div[contains(@class, 'modal-footer')]"
                           "//button[normalize-space(.)='Delete Container After Stop']")
    walk.done("delete-confirm")
    confirm.click()
    walk.wait(shown.url_contains("/project/container/containers"))
    walk.reload_until(lambda: row_status(walk, name) is None, f"{name} gone from the table")
    walk.done("deleted")
    return row_status(walk, name) is None


def main() -> None:
    horizon, region, name, line, folder = sys.argv[1:6]
    screenshots = Path(folder)
    screenshots.mkdir(parents=True, exist_ok=True)
    for old in screenshots.glob("*.png"):
        old.unlink()
    browser = open_browser()
    walk = Walk(browser, horizon, screenshots)
    try:
        log_in(walk, region)
        # A shell that ends on SIGTERM: as PID 1 it would ignore it, and the stop before the
        # delete would wait out Docker's 10 s.
        launch(walk, name, f'sh -c "trap \'exit 0\' TERM; echo {line}; sleep 300 & wait"')
        status = see_running(walk, name)
        uuid, logs = read_logs(walk, name, line)
        gone = delete(walk, name)
        errors = [entry["message"] for entry in browser.get_log("browser")
                  if entry["level"] == "SEVERE"]
        print(json.dumps({"status": status, "uuid": uuid, "logs": logs, "gone": gone,
                          "steps": walk.steps, "errors": errors}))
    except WebDriverException as error:  # a TimeoutException among them
        browser.save_screenshot(str(screenshots / "failed.png"))
        (screenshots / "failed.html").write_text(browser.page_source)
        sys.exit(f"{error.msg or type(error).__name__} at {browser.current_url}\n"
                 f"steps done: {walk.steps}; the page is in {screenshots}/failed.*")
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
