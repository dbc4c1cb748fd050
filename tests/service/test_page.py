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
WAIT_SECONDS = 120  # patient on a loaded machine; a page that never gets there still fails

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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, CSP reports included
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


# The page re-renders a list when an answer arrives (and may render it twice, when a navigation and the
# start-up route overlap): an element found a moment ago can be gone. So every read below happens inside a
# wait whose condition finds its elements afresh, and a StaleElementReferenceException just means "poll
# again" — never a failed test, never a fixed sleep.


def waiting(browser):
    """A wait that re-runs its condition when the elements it read were re-rendered meanwhile."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
    )


def texts(driver, selector: str) -> list[str]:
    """The text of every element matching ``selector``, read now."""
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def text(driver, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector).text


def click(driver, selector: str) -> bool:
    """Click the element matching ``selector`` (found afresh); True, for use as a wait condition."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, selector).click()
    return True


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

    wait = waiting(browser)
    browser.get(server.url + "/")
    wait.until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#doc_type option")) > 1)
    browser.find_element(By.ID, "q").send_keys(QUESTION)
    wait.until(lambda driver: click(driver, "#search-button"))

    answer = wait.until(lambda driver: texts(driver, "#answer a.cite") and text(driver, "#answer-text"))
    assert answer.startswith("根据《关于加快培育发展高新技术产业开发区“一区一战略产业”的意见》")

    def first_hit(driver):
        hits = driver.find_elements(By.CSS_SELECTOR, "#results li.hit")
        if not hits:
            return None
        hit = hits[0]
        marks = [mark.text for mark in hit.find_elements(By.TAG_NAME, "mark")]
        return hit.find_element(By.CSS_SELECTOR, ".breadcrumb").text, marks

    breadcrumb, marks = wait.until(first_hit)
    assert "（十二）发展创新型孵化器" in breadcrumb
    assert any("孵化器" in mark for mark in marks)
    if target := os.environ.get("POLICYQA_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(target)

    assert wait.until(lambda driver: text(driver, "#answer a.cite")) == "[1]"
    wait.until(lambda driver: click(driver, "#answer a.cite"))
    quoted = wait.until(lambda driver: text(driver, "#clause-text mark"))
    assert quoted in answer
    assert "（十二）发展创新型孵化器" in wait.until(lambda driver: text(driver, "#clause-path"))
    assert wait.until(lambda driver: text(driver, "#outline li.current")) == "（十二） 发展创新型孵化器"
    outline = wait.until(lambda driver: texts(driver, "#outline li a"))
    assert len(outline) == len(server.seed.clauses)
    sections = wait.until(lambda driver: texts(driver, "#outline li.section"))
    assert sections[3] == "四、健全科技服务体系,构建良好创新创业生态"

    wait.until(lambda driver: click(driver, "#back-link"))
    wait.until(lambda driver: texts(driver, "#results li.hit"))
    assert browser.find_element(By.ID, "q").get_attribute("value") == QUESTION


def test_a_follow_up_in_the_page_keeps_the_conversation_and_shows_each_relevance(server, browser):
    from selenium.webdriver.common.by import By

    question = "高新区对创新型孵化器有什么支持？"
    wait = waiting(browser)
    browser.get(server.url + "/#/search?q=" + question)
    wait.until(lambda driver: texts(driver, "#answer a.cite"))
    badge = wait.until(lambda driver: text(driver, "#confidence .confidence-badge"))
    first_relevance = float(badge.split()[-1])
    band = wait.until(lambda driver: driver.find_element(By.ID, "answer").get_attribute("data-confidence"))
    assert band == ("high" if first_relevance >= 0.8 else "medium" if first_relevance >= 0.5 else "low")

    browser.find_element(By.ID, "followup-q").send_keys("那人才方面呢？")
    wait.until(lambda driver: click(driver, "#followup-button"))
    assert wait.until(lambda driver: text(driver, "#rewritten")) == "按“高新区对人才有什么支持？”回答"
    assert wait.until(lambda driver: text(driver, "#current-question")) == "问：那人才方面呢？"
    earlier = wait.until(lambda driver: texts(driver, "#conversation .turn-question"))
    assert earlier == [f"问：{question}"]
    assert wait.until(lambda driver: texts(driver, "#conversation .confidence-badge"))[0] == badge
    assert "人才" in wait.until(lambda driver: text(driver, "#answer-text"))


def test_text_from_the_index_is_never_interpreted_as_html(server, browser):
    import httpx
    from selenium.webdriver.common.by import By

    document = (
        "【测试】(2024)关于<i>标记</i>测试的通知\n时间:2024-01-02\n\n"
        "一、标记测试条款。文本中的<img src=x onerror=\"document.title='owned'\">图片"
        "和<b>粗体</b>都是普通文字。\n"
    )
    headers = {"X-API-Key": server.api_key}
    with httpx.Client(base_url=server.url, timeout=120) as client:
        uploaded = client.post(
            "/documents", headers=headers, files={"file": ("markup.txt", document.encode())}
        )
        assert uploaded.status_code == 201, uploaded.text
        try:
            browser.get(server.url + "/#/search?q=标记测试条款&mode=bm25")

            def first_hit(driver):
                hits = driver.find_elements(By.CSS_SELECTOR, "#results li.hit")
                if not hits:
                    return None
                hit = hits[0]
                return hit.text, hit.find_elements(By.CSS_SELECTOR, "img, b, i")

            shown_text, markup = waiting(browser).until(first_hit)
            assert "<b>粗体</b>" in shown_text
            assert "《关于<i>标记</i>测试的通知》" in shown_text
            assert markup == []
            assert browser.title == "政策文件检索与问答"
        finally:
            client.delete(f"/documents/{uploaded.json()['document']['id']}", headers=headers)


def test_the_widget_answers_inside_a_portal_page_on_another_origin(server, browser, portal):
    from selenium.webdriver.common.by import By

    browser.get(portal)
    wait = waiting(browser)
    wait.until(lambda driver: driver.find_element(By.CSS_SELECTOR, "[data-policyqa] input").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "[data-policyqa] input").send_keys("人才公寓的租金是怎么确定的？")
    wait.until(lambda driver: click(driver, "[data-policyqa] button"))
    answer = wait.until(
        lambda driver: texts(driver, "[data-policyqa] a.pqa-cite") and text(driver, ".pqa-answer")
    )
    assert answer.startswith("根据《苏州市人才公寓管理办法》第四条")
    link = wait.until(lambda driver: driver.find_element(By.CSS_SELECTOR, "a.pqa-cite").get_attribute("href"))
    assert link.startswith(server.url + "/#/clause/")


def test_the_api_docs_render_from_local_files(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait = waiting(browser)
    wait.until(lambda driver: driver.find_element(By.LINK_TEXT, "API 说明").click() or True)
    paths = wait.until(lambda driver: set(texts(driver, ".opblock-summary-path")))
    assert {"/search", "/ask", "/documents"} <= {path.replace("\u200b", "") for path in paths}
    assert browser.current_url == server.url + "/docs"


def test_search_inside_the_document_being_read(server, browser):
    from selenium.webdriver.common.by import By

    wait = waiting(browser)
    rent_clause = next(c for c in server.second.clauses if c.number == "第四条")
    browser.get(f"{server.url}/#/clause/{rent_clause.id}")
    wait.until(lambda driver: driver.find_element(By.ID, "doc-q").is_displayed())
    browser.find_element(By.ID, "doc-q").send_keys("创新")
    wait.until(lambda driver: click(driver, "#doc-search-button"))

    assert wait.until(lambda driver: text(driver, "#scope-title")) == "《苏州市人才公寓管理办法》"
    scoped = wait.until(
        lambda driver: (
            (crumbs := texts(driver, "#results .breadcrumb"))
            and all(crumb.startswith("《苏州市人才公寓管理办法》") for crumb in crumbs)
            and crumbs
        )
    )
    assert scoped

    wait.until(lambda driver: click(driver, "#scope-clear"))
    wait.until(lambda driver: "document_id" not in driver.current_url)
    wait.until(
        lambda driver: any("一区一战略产业" in crumb for crumb in texts(driver, "#results .breadcrumb"))
    )
    assert browser.find_element(By.ID, "scope").is_displayed() is False


def test_the_page_runs_under_its_content_security_policy(server, browser):
    """The page's own script works with no inline script or style allowed, and the browser reports no
    violation (CSP errors land in the console log)."""
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/#/search?q=孵化器&mode=bm25")
    waiting(browser).until(lambda driver: texts(driver, "#results li.hit"))
    assert browser.find_element(By.ID, "q").get_attribute("value") == "孵化器"
    violations = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert violations == []


def test_waits_read_a_list_that_re_renders_all_the_time(browser, tmp_path: Path):
    """The wait every page test uses survives what made test_search_inside_the_document_being_read flaky
    (a StaleElementReferenceException while results re-rendered): here the list is rebuilt every millisecond
    for its first 2,000 generations, like a page rendering two overlapping answers, while the condition reads
    each item's text."""
    page = tmp_path / "re-render.html"
    page.write_text(
        """<!doctype html><html><head><meta charset="utf-8"></head><body><ol id="results"></ol><script>
let generation = 0;
const timer = setInterval(() => {
  if (generation === 2000) return clearInterval(timer);
  const items = [];
  for (let i = 0; i < 30; i++) {
    const item = document.createElement("li");
    item.className = "breadcrumb";
    item.textContent = "《苏州市人才公寓管理办法》 " + generation + "-" + i;
    items.push(item);
  }
  document.getElementById("results").replaceChildren(...items);
  generation++;
}, 1);
</script></body></html>""",
        encoding="utf-8",
    )
    browser.get(page.as_uri())
    complete_reads = []

    def read_every_crumb(driver) -> bool:
        crumbs = texts(driver, "#results .breadcrumb")
        if len(crumbs) == 30 and all(crumb.startswith("《苏州市人才公寓管理办法》") for crumb in crumbs):
            complete_reads.append(crumbs)
        return len(complete_reads) >= 5

    assert waiting(browser).until(read_every_crumb)


# ---- versions: badges, the as-of control, reference links (the validity server: today is 2025-06-01) ------

COMPANY_QUESTION = "有限责任公司股东认缴出资多少年内缴足"


def test_every_hit_has_a_status_badge_and_the_as_of_control_picks_the_versions(validity_server, browser):
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    wait = waiting(browser)
    browser.get(f"{validity_server.url}/#/search?q={quote(COMPANY_QUESTION)}&include_history=true")
    wait.until(lambda driver: len(texts(driver, "#results .hit")) > 1)
    badges = wait.until(
        lambda driver: (
            (found := texts(driver, "#results .hit .validity-badge"))
            and len(found) == len(texts(driver, "#results .hit"))
            and found
        )
    )
    assert {"已被修订", "现行有效"} <= set(badges)
    assert browser.find_element(By.ID, "include_history").is_selected()
    # the as-of control: the versions in force on 2024-03-01, the 2023 text not yet
    browser.execute_script("document.getElementById('include_history').checked = false;")
    browser.execute_script("document.getElementById('as_of').value = '2024-03-01';")
    wait.until(lambda driver: click(driver, "#search-button"))
    wait.until(lambda driver: "as_of=2024-03-01" in driver.current_url)
    wait.until(
        lambda driver: (
            (found := texts(driver, "#results .hit .validity-badge")) and set(found) == {"现行有效"}
        )
    )
    meta = wait.until(lambda driver: texts(driver, "#results .hit .meta") or None)
    assert all("2023-12-29" not in line for line in meta)


def test_references_are_links_and_the_cited_clause_shows_who_cites_it(validity_server, browser):
    from selenium.webdriver.common.by import By

    parsed = validity_server.documents["company_2023"]
    articles = {clause.number: clause.id for clause in parsed.clauses}
    wait = waiting(browser)
    browser.get(f"{validity_server.url}/#/clause/{articles['第六十七条']}")
    wait.until(lambda driver: "本法第七十五条" in texts(driver, "#clause-text a.ref-link"))
    assert "现行有效" in text(browser, "#doc-meta .validity-badge")
    versions = wait.until(lambda driver: text(driver, "#doc-versions") or None)
    assert "2018-10-26版" in versions and "已被修订" in versions
    link = browser.find_element(By.XPATH, "//p[@id='clause-text']//a[text()='本法第七十五条']")
    assert link.get_attribute("href").endswith(f"#/clause/{articles['第七十五条']}")
    link.click()
    wait.until(lambda driver: text(driver, "#clause-path").endswith("第七十五条"))
    count = wait.until(lambda driver: text(driver, "#cited-by-count") or None)
    assert count.startswith("被引用 ") and count.endswith(" 次")
    citing = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#cited-by-list a")]
    assert any(href.endswith(f"#/clause/{articles['第六十七条']}") for href in citing)


def test_an_inferred_region_is_shown_as_inferred(server, browser):
    from urllib.parse import quote

    wait = waiting(browser)
    browser.get(f"{server.url}/#/search?q={quote(QUESTION)}")
    meta = wait.until(lambda driver: texts(driver, "#results .hit .meta") or None)
    assert (
        "江苏（推断）" in meta[0]
    )  # the seed: no issuer line, a placeholder 【地区】, 江苏's places in the body


def test_a_clause_is_compared_with_its_counterpart_in_another_version(validity_server, browser):
    from selenium.webdriver.common.by import By

    articles = {clause.number: clause.id for clause in validity_server.documents["company_2023"].clauses}
    wait = waiting(browser)
    browser.get(f"{validity_server.url}/#/clause/{articles['第四十七条']}")  # 认缴出资 five years (2023)
    wait.until(lambda driver: click(driver, "#doc-versions .diff-button"))
    title = wait.until(lambda driver: text(driver, "#version-diff-title") or None)
    assert "2018-10-26版 第二十六条" in title  # renumbered: the counterpart is found by its text
    assert browser.find_elements(By.CSS_SELECTOR, "#version-diff-text ins")
    assert browser.find_elements(By.CSS_SELECTOR, "#version-diff-text del")
    without = "const copy = document.getElementById('version-diff-text').cloneNode(true);"
    read = without + "copy.querySelectorAll('{}').forEach((node) => node.remove()); return copy.textContent;"
    current = next(c for c in validity_server.documents["company_2023"].clauses if c.number == "第四十七条")
    old = next(c for c in validity_server.documents["company_2018"].clauses if c.number == "第二十六条")
    assert browser.execute_script(read.format("del")) == current.text  # the diff is exact both ways
    assert browser.execute_script(read.format("ins")) == old.text
