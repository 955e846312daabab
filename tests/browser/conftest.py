"""A real headless Chromium (Debian's chromium and chromium-driver) driven by selenium.

`make test` and `.ci/run` install both where they are missing. When they are still missing the
browser tests fail in CI (CI=true), where a skipped browser test would hide an untested report,
and skip elsewhere with the command that installs them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Debian's paths; the variables let another system point at its own build.
CHROMIUM = Path(os.environ.get("CAS_CONFORMANCE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CAS_CONFORMANCE_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
PAGE_LOAD_TIMEOUT = 30.0
SCRIPT_TIMEOUT = 10.0
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver (as root; `make test` does it)"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}; {INSTALL}", pytrace=False)
    pytest.skip(f"{reason}; install with: {INSTALL}")


@dataclass
class Page:
    """What one page load showed: its dialogs (each one a finding) and the driver to look further."""

    driver: Any
    dialogs: list[str] = field(default_factory=list)

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)


class Browser:
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def _drain_dialogs(self, dialogs: list[str]) -> None:
        from selenium.common.exceptions import NoAlertPresentException

        for _ in range(20):
            try:
                alert = self.driver.switch_to.alert
            except NoAlertPresentException:
                return
            dialogs.append(alert.text)
            alert.accept()

    def open(self, path: Path, ready: str = "return document.readyState === 'complete'") -> Page:
        """Load *path*, wait until *ready* holds; every JS dialog met on the way is recorded and closed."""
        from selenium.common.exceptions import TimeoutException, UnexpectedAlertPresentException
        from selenium.webdriver.support.ui import WebDriverWait

        page = Page(self.driver)
        try:
            self.driver.get(path.resolve().as_uri())
        except UnexpectedAlertPresentException as exc:
            page.dialogs.append(str(exc.alert_text))
        self._drain_dialogs(page.dialogs)

        def ready_now(driver: Any) -> bool:
            try:
                return bool(driver.execute_script(ready))
            except UnexpectedAlertPresentException as exc:
                page.dialogs.append(str(exc.alert_text))
                self._drain_dialogs(page.dialogs)
                return False

        try:
            WebDriverWait(self.driver, SCRIPT_TIMEOUT).until(ready_now)
        except TimeoutException:
            pytest.fail(f"{path.name} did not become ready within {SCRIPT_TIMEOUT:g} s ({ready})")
        # Scripts queued by the render (an <img onerror> fires after its failed load) get one more
        # round trip to open their dialog before we look again.
        self.driver.execute_async_script("const done = arguments[0]; setTimeout(done, 200);")
        self._drain_dialogs(page.dialogs)
        return page


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _unavailable(f"{CHROMIUM} or {CHROMEDRIVER} is missing")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _unavailable(f"selenium is not installed ({exc}): pip install -e '.[test]'")
    profile = tempfile.mkdtemp(prefix="cas-conformance-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # Leave dialogs open so that we see them (switch_to.alert) instead of chromedriver dismissing them.
    options.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
        driver.set_script_timeout(SCRIPT_TIMEOUT)
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
