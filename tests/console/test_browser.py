"""The console in a real headless browser (Debian's chromium and chromium-driver, driven
by selenium; nothing is downloaded): log in with the keyboard (password and TOTP), find
the domain, paste a KSK's DS, read the advisory check against a real NSD and the live
state, remove the DS, log out. Each page gets an accessibility pass: every visible
input labelled, every control reachable with Tab, text contrast at least 4.5:1 (WCAG AA).

With ``TLDSEC_CONSOLE_SCREENSHOT=PATH`` the domain page after the add is saved there
(docs/images/console.png is made this way).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.console.conftest import DOMAIN, PASSWORD, ConsoleWorld
from tests.console.signed_child import SignedChild, serve_signed_child
from tests.console.test_zones import TwoZones, make_two_zones
from tests.distribute.nameservers import free_port, nsd_available
from tests.fixtures.epp import TlsFiles
from tests.fixtures.registry import START, sqlite_world
from tldsec.console.app import build_app
from tldsec.console.server import ConsoleServer
from tldsec.registry.advisory import Advisor
from tldsec.registry.models import ZoneChange

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists() and nsd_available()),
    reason="needs Debian's chromium, chromium-driver and nsd (scripts/install-debian-deps)",
)

# Every control's label, Tab reachability and text contrast, computed in the page.
A11Y_SCRIPT = """
const visible = e => e.offsetParent !== null || e.getClientRects().length > 0;
const inputs = [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden');
const unlabelled = inputs.filter(e => {
  if (e.getAttribute('aria-label')) return false;
  const l = e.id && document.querySelector(`label[for="${e.id}"]`);
  return !(l && l.textContent.trim());
}).map(e => e.name || e.outerHTML);
const controls = [...document.querySelectorAll('a[href], button, input, select, textarea')]
  .filter(e => e.type !== 'hidden' && visible(e) && !e.disabled && e.tabIndex >= 0)
  .map(e => e.outerHTML.slice(0, 80));
const lum = c => {
  const [r, g, b] = c.match(/[0-9.]+/g).slice(0, 3).map(Number).map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const background = e => {
  for (; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
  }
  return 'rgb(255, 255, 255)';
};
const low = [];
for (const e of document.querySelectorAll('body *')) {
  if (!visible(e)) continue;
  const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const s = getComputedStyle(e);
  const a = lum(s.color), b = lum(background(e));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const text = e.textContent.trim().slice(0, 30);
  if (ratio < 4.5) low.push(`${e.tagName} ${ratio.toFixed(2)} ${text}`);
}
return {unlabelled, controls, low, lang: document.documentElement.lang};
"""


@pytest.fixture
def child(tmp_path: Path) -> Iterator[SignedChild]:
    served = serve_signed_child(tmp_path / "child", START)
    yield served
    served.stop()


@pytest.fixture
def served(console_world: ConsoleWorld, tls_files: TlsFiles) -> Iterator[str]:
    """The console over HTTPS on a free loopback port (uvicorn in a thread)."""
    yield from _serve(console_world, tls_files)


@pytest.fixture
def served_two_zones(tmp_path: Path, tls_files: TlsFiles) -> Iterator[TwoZones]:
    """The console of a registry of example. and shop. (``test_zones.py``), served."""
    tz = make_two_zones(sqlite_world(tmp_path), tmp_path)
    for url in _serve(tz.cw, tls_files):
        tz.url = url
        yield tz
    tz.cw.world.db.dispose()


def _serve(console_world: ConsoleWorld, tls_files: TlsFiles) -> Iterator[str]:
    import uvicorn

    port = free_port()
    server = ConsoleServer(
        uvicorn.Config(
            build_app(console_world.console),
            host="127.0.0.1",
            port=port,
            ssl_certfile=str(tls_files.cert),
            ssl_keyfile=str(tls_files.key),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--ignore-certificate-errors",  # the test's self-signed certificate
        "--window-size=1100,1750",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--no-first-run",
        "--disable-background-networking",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")),
        options=options,
    )
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def navigates(driver: Any, act: Any) -> None:
    """Do ``act`` (a click or a key that submits) and wait until the next page replaced
    this one (selenium does not wait for a navigation a key press starts)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element("tag name", "html")
    act()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(old))
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def accessible(driver: Any) -> None:
    """Every visible input labelled, every control reached by Tab in order, contrast AA."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    found = driver.execute_script(A11Y_SCRIPT)
    assert found["lang"] == "en"
    assert found["unlabelled"] == [], found["unlabelled"]
    assert found["low"] == [], found["low"]
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(len(found["controls"]) + 3):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.append(
            driver.execute_script("return document.activeElement.outerHTML.slice(0, 80)")
        )
    missing = [c for c in found["controls"] if c not in reached]
    assert missing == [], missing


def test_login_add_advisory_live_remove_in_chromium(
    console_world: ConsoleWorld, served: str, browser: Any, child: SignedChild
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    cw = console_world
    cw.console.advisor = Advisor(
        timeout=2.0, port=child.daemon.port, resolver=("127.0.0.1", child.daemon.port)
    )
    # The domain's earlier change (its creation) is already served: cycle state and store.
    with cw.world.db.read() as s:
        created = s.scalar(select(func.max(ZoneChange.id)))
    (cw.tmp / "zones").mkdir()
    (cw.tmp / "zones" / "cycle.json").write_text(
        json.dumps({"serial": 2024030101, "change_id": created})
    )
    (cw.tmp / "dist").mkdir()
    (cw.tmp / "dist" / "current").write_text("2024030101\n")

    browser.get(f"{served}/login")
    assert browser.title.startswith("Log in")
    accessible(browser)
    # A wrong code first: refused, with the message announced.
    browser.find_element(By.ID, "client_id").send_keys("alpha")
    browser.find_element(By.ID, "user").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "code").send_keys("000000" if cw.code() != "000000" else "111111")
    navigates(browser, lambda: browser.find_element(By.ID, "code").send_keys(Keys.ENTER))
    assert "Login failed" in browser.find_element(By.ID, "login-error").text
    accessible(browser)
    browser.find_element(By.ID, "client_id").send_keys("alpha")
    browser.find_element(By.ID, "user").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "code").send_keys(cw.code())
    navigates(browser, lambda: browser.find_element(By.ID, "code").send_keys(Keys.ENTER))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Your domains"
    accessible(browser)

    navigates(browser, lambda: browser.find_element(By.LINK_TEXT, DOMAIN).click())
    assert browser.find_element(By.TAG_NAME, "h1").text == DOMAIN
    accessible(browser)
    ds = child.ds(child.ksk)
    browser.find_element(By.ID, "line").send_keys(f"{DOMAIN}. 3600 IN DS {ds}")
    navigates(browser, lambda: browser.find_element(By.XPATH, "//button[text()='Add DS']").click())
    advice = browser.find_element(By.ID, "advice").text
    assert "Advisory check (matches)" in advice and "(validated)" in advice
    assert f"DS {ds} added." in browser.find_element(By.ID, "done").text
    changes = browser.find_element(By.ID, "changes").text
    assert "accepted: committed; waiting for the next zone cycle" in changes
    assert "served: the hidden primary serves serial 2024030101, which includes it" in changes
    accessible(browser)
    browser.execute_script("document.activeElement && document.activeElement.blur()")
    shot = os.environ.get("TLDSEC_CONSOLE_SCREENSHOT")
    browser.save_screenshot(str(cw.tmp / "console.png"))
    if shot:
        shutil.copyfile(cw.tmp / "console.png", shot)

    # Remove it with the keyboard: focus the row's button, press Enter.
    remove = browser.find_element(By.CSS_SELECTOR, f"button[aria-label^='Remove DS {ds.key_tag} ']")
    navigates(browser, lambda: remove.send_keys(Keys.ENTER))
    assert browser.find_element(By.ID, "done").text.startswith("DS removed.")
    assert browser.find_elements(By.CSS_SELECTOR, "td.digest") == []
    navigates(browser, lambda: browser.find_element(By.XPATH, "//button[text()='Log out']").click())
    assert browser.title.startswith("Log in")
    actors = {actor for _event, actor, _ in cw.audited}
    assert "registrar:alpha/alice" in actors


def test_the_accessibility_pass_catches_what_it_looks_for(served: str, browser: Any) -> None:
    """The checker itself: an unlabelled input, faint text, a control Tab cannot reach."""
    browser.get(f"{served}/login")
    accessible(browser)  # the page as served passes
    browser.execute_script(
        "const m = document.querySelector('main');"
        "m.insertAdjacentHTML('beforeend', '<input name=\"stray\"><p id=\"faint\">faint</p>');"
        "document.getElementById('faint').style.color = '#bbbbbb';"  # CSSOM: CSP allows it
    )
    found = browser.execute_script(A11Y_SCRIPT)
    assert found["unlabelled"] == ["stray"]
    assert [line.split(" ")[0] for line in found["low"]] == ["P"]

    browser.get(f"{served}/login")
    browser.execute_script(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        ' \'<button id="trap" type="button">trap</button>\');'
        "document.getElementById('trap').addEventListener('focus', e => e.target.blur());"
    )
    with pytest.raises(AssertionError, match="trap"):
        accessible(browser)


def test_the_zone_selector_with_the_keyboard(served_two_zones: TwoZones, browser: Any) -> None:
    """alpha, accredited for example. and shop., picks shop. in the header's selector
    with the keyboard; the list is then shop.'s, and the page passes the same checks."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    tz = served_two_zones
    browser.get(f"{tz.url}/login")
    browser.find_element(By.ID, "client_id").send_keys("alpha")
    browser.find_element(By.ID, "user").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "code").send_keys(tz.cw.code())
    navigates(browser, lambda: browser.find_element(By.ID, "code").send_keys(Keys.ENTER))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Your domains in .example"
    assert browser.title == "Domains · .example"
    zone = Select(browser.find_element(By.ID, "zone"))
    assert [o.text for o in zone.options] == [".example", ".shop"]
    accessible(browser)
    zone.select_by_visible_text(".shop")
    navigates(
        browser,
        lambda: browser.find_element(By.XPATH, "//button[text()='Show']").send_keys(Keys.ENTER),
    )
    assert browser.find_element(By.TAG_NAME, "h1").text == "Your domains in .shop"
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "main table a")] == ["a.shop"]
    accessible(browser)
