"""The search page in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

Set POLICYQA_SCREENSHOT=<file.png> to save a screenshot of the answered question (docs/screenshot.png).
"""

from __future__ import annotations

import os
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
QUESTION = "高新区可以通过哪些方式建设创新型孵化器？"
WAIT_SECONDS = 60

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="needs chromium and chromedriver"
)


@pytest.fixture
def browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1000",
        "--lang=zh-CN",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


@pytest.fixture
def portal(server, tmp_path: Path):
    """A portal page on another origin embedding the widget exactly as the docs/api.md snippet does."""
    (tmp_path / "portal.html").write_text(
        f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>门户</title></head><body>
<h1>某市人民政府门户网站</h1>
<div data-policyqa="{server.url}"></div>
<script src="{server.url}/static/widget.js" defer></script>
</body></html>""",
        encoding="utf-8",
    )
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = ThreadingHTTPServer(("127.0.0.1", server.portal_port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.portal_port}/portal.html"
    httpd.shutdown()
    httpd.server_close()


def test_ask_in_the_page_and_open_a_citation_in_its_document(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(server.url + "/")
    wait.until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#doc_type option")) > 1)
    browser.find_element(By.ID, "q").send_keys(QUESTION)
    browser.find_element(By.ID, "search-button").click()

    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, "#answer a.cite")))
    answer = browser.find_element(By.ID, "answer-text").text
    assert answer.startswith("根据《关于加快培育发展高新技术产业开发区“一区一战略产业”的意见》")
    hits = browser.find_elements(By.CSS_SELECTOR, "#results li.hit")
    assert hits
    assert "（十二）发展创新型孵化器" in hits[0].find_element(By.CSS_SELECTOR, ".breadcrumb").text
    assert any("孵化器" in mark.text for mark in hits[0].find_elements(By.TAG_NAME, "mark"))
    if target := os.environ.get("POLICYQA_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(target)

    citation = browser.find_element(By.CSS_SELECTOR, "#answer a.cite")
    assert citation.text == "[1]"
    citation.click()
    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, "#clause-text mark")))
    quoted = browser.find_element(By.CSS_SELECTOR, "#clause-text mark").text
    assert quoted and quoted in answer
    assert "（十二）发展创新型孵化器" in browser.find_element(By.ID, "clause-path").text
    current = browser.find_element(By.CSS_SELECTOR, "#outline li.current")
    assert current.text == "（十二） 发展创新型孵化器"
    outline = browser.find_elements(By.CSS_SELECTOR, "#outline li a")
    assert len(outline) == len(server.seed.clauses)
    sections = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#outline li.section")]
    assert sections[3] == "四、健全科技服务体系,构建良好创新创业生态"

    browser.find_element(By.ID, "back-link").click()
    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, "#results li.hit")))
    assert browser.find_element(By.ID, "q").get_attribute("value") == QUESTION


def test_text_from_the_index_is_never_interpreted_as_html(server, browser):
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    document = (
        "【测试】(2024)关于<i>标记</i>测试的通知\n时间:2024-01-02\n\n"
        "一、标记测试条款。文本中的<img src=x onerror=\"document.title='owned'\">图片"
        "和<b>粗体</b>都是普通文字。\n"
    )
    headers = {"X-API-Key": server.api_key}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        uploaded = client.post(
            "/documents", headers=headers, files={"file": ("markup.txt", document.encode())}
        )
        assert uploaded.status_code == 201, uploaded.text
        try:
            browser.get(server.url + "/#/search?q=标记测试条款&mode=bm25")
            WebDriverWait(browser, WAIT_SECONDS).until(
                shown.visibility_of_element_located((By.CSS_SELECTOR, "#results li.hit"))
            )
            first = browser.find_element(By.CSS_SELECTOR, "#results li.hit")
            assert "<b>粗体</b>" in first.text
            assert "《关于<i>标记</i>测试的通知》" in first.text
            assert first.find_elements(By.CSS_SELECTOR, "img, b, i") == []
            assert browser.title == "政策文件检索与问答"
        finally:
            client.delete(f"/documents/{uploaded.json()['document']['id']}", headers=headers)


def test_the_widget_answers_inside_a_portal_page_on_another_origin(server, browser, portal):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(portal)
    wait = WebDriverWait(browser, WAIT_SECONDS)
    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, "[data-policyqa] input")))
    browser.find_element(By.CSS_SELECTOR, "[data-policyqa] input").send_keys("人才公寓的租金是怎么确定的？")
    browser.find_element(By.CSS_SELECTOR, "[data-policyqa] button").click()
    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, "[data-policyqa] a.pqa-cite")))
    assert browser.find_element(By.CSS_SELECTOR, ".pqa-answer").text.startswith(
        "根据《苏州市人才公寓管理办法》第四条"
    )
    link = browser.find_element(By.CSS_SELECTOR, "a.pqa-cite").get_attribute("href")
    assert link.startswith(server.url + "/#/clause/")


def test_the_api_docs_render_from_local_files(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/")
    browser.find_element(By.LINK_TEXT, "API 说明").click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    )
    paths = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/search", "/ask", "/documents"} <= {path.replace("\u200b", "") for path in paths}
    assert browser.current_url == server.url + "/docs"


def test_search_inside_the_document_being_read(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    rent_clause = next(c for c in server.second.clauses if c.number == "第四条")
    browser.get(f"{server.url}/#/clause/{rent_clause.id}")
    wait.until(shown.visibility_of_element_located((By.ID, "doc-q")))
    browser.find_element(By.ID, "doc-q").send_keys("创新")
    browser.find_element(By.ID, "doc-search-button").click()

    wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, "#results li.hit, #results li.empty")))
    wait.until(lambda driver: driver.find_element(By.ID, "scope-title").text)
    assert browser.find_element(By.ID, "scope-title").text == "《苏州市人才公寓管理办法》"
    breadcrumbs = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "#results .breadcrumb")]
    assert breadcrumbs and all(text.startswith("《苏州市人才公寓管理办法》") for text in breadcrumbs)

    browser.find_element(By.ID, "scope-clear").click()
    wait.until(lambda driver: "document_id" not in driver.current_url)
    wait.until(
        lambda driver: any(
            "一区一战略产业" in element.text
            for element in driver.find_elements(By.CSS_SELECTOR, "#results .breadcrumb")
        )
    )
    assert browser.find_element(By.ID, "scope").is_displayed() is False
