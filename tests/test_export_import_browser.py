"""Your data, as a person uses it in Chromium: import ChatGPT's export, find the
conversations in the sidebar showing the branch ChatGPT showed, and download them all."""

import json
from pathlib import Path

import pytest

from tests.live import browser_page, log_in, running_site

pytestmark = pytest.mark.browser

CHATGPT = Path(__file__).parent / "exports" / "chatgpt_conversations.json"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    with running_site(
        tmp_path_factory.mktemp("data"),
        {"OPENAI_BASE_URL": live_upstream.url, "OPENAI_API_KEY": "sk-data"},
    ) as live:
        yield live


@pytest.fixture
def page(browser):
    with browser_page(browser, accept_downloads=True) as page:
        yield page


def test_import_chatgpt_history_then_export_it_all(site, page, tmp_path):
    log_in(page, site)
    page.click("text=Your data")
    page.set_input_files("#import-file", str(CHATGPT))
    page.click("button:has-text('Import')")
    page.wait_for_selector("text=Imported 2 conversations.")
    page.click("text=Back to the chat")
    page.click("text=Sorting a list in Python")
    page.wait_for_selector("article[data-role=assistant] >> text=A small red square.")
    assert "itemgetter" in page.locator("article[data-role=assistant]").first.inner_text()
    page.click("text=Your data")
    with page.expect_download() as download:
        page.click("text=Export all conversations")
    saved = tmp_path / "all.json"
    download.value.save_as(saved)
    data = json.loads(saved.read_text())
    titles = {conversation["title"] for conversation in data["conversations"]}
    assert titles == {"Sorting a list in Python", "Empty one"}


def test_a_bad_file_is_refused_on_the_page(site, page, tmp_path):
    log_in(page, site)
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "an export"}')
    page.goto(site.url + "/data/")
    page.set_input_files("#import-file", str(bad))
    page.click("button:has-text('Import')")
    alert = page.locator("[role=alert]")
    alert.wait_for()
    assert "Nothing was imported." in alert.inner_text()


def test_one_conversation_downloads_from_its_menu(site, page, tmp_path):
    log_in(page, site)
    page.goto(site.url + "/data/")
    page.set_input_files("#import-file", str(CHATGPT))
    page.click("button:has-text('Import')")
    page.wait_for_selector("text=Imported 2 conversations.")
    page.goto(site.url + "/")
    entry = page.locator("#conv-list .conv-item", has_text="Sorting a list in Python").first
    entry.locator(".conv-link").focus()
    page.keyboard.press("Tab")  # to its ⋯ button
    page.keyboard.press("Enter")
    with page.expect_download() as download:
        page.locator("[role=menuitem]", has_text="Export as Markdown").click()
    saved = tmp_path / "one.md"
    download.value.save_as(saved)
    text = saved.read_text()
    assert text.startswith("# Sorting a list in Python\n") and "A small red square." in text
