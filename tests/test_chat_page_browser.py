"""The resident chat page in headless Chromium: greeting, buttons, typing, reload keeps the conversation."""
import pytest

pytestmark = [pytest.mark.stack, pytest.mark.browser]


@pytest.fixture
def page(stack, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def test_chat_page_conversation_survives_reload(stack, page, tmp_path):
    page.goto(stack.web_url + "/")
    page.wait_for_selector(".row.bot:not(.typing) .bubble", timeout=60_000)
    assert "便民" in page.locator(".row.bot:not(.typing) .bubble").first.inner_text()
    buttons = page.locator(".buttons button")
    assert buttons.count() >= 6
    assert "我要投诉/举报" in buttons.all_inner_texts()

    page.fill("#input", "谢谢你")
    page.keyboard.press("Enter")
    page.wait_for_selector(".row.user .bubble:has-text('谢谢你')")
    page.wait_for_selector(".row.bot:not(.typing) .bubble:has-text('不客气')", timeout=60_000)
    assert page.locator(".typing").count() == 0
    sender = page.evaluate("localStorage.getItem('bianmin.sender')")
    bubbles_before = page.locator(".bubble").all_inner_texts()
    page.screenshot(path=str(stack.var / "chat_page.png"))

    page.reload()
    page.wait_for_selector(".row.bot:not(.typing) .bubble:has-text('不客气')", timeout=30_000)
    assert page.evaluate("localStorage.getItem('bianmin.sender')") == sender
    assert page.locator(".bubble").all_inner_texts() == bubbles_before
    # mobile width: nothing overflows horizontally
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_quick_reply_button_sends_its_payload(stack, page):
    page.goto(stack.web_url + "/")
    page.wait_for_selector(".buttons button", timeout=60_000)
    count_before = page.locator(".row.bot").count()
    page.locator(".buttons button", has_text="办事咨询").first.click()
    page.wait_for_selector(".row.user .bubble:has-text('办事咨询')")
    page.wait_for_function(f"document.querySelectorAll('.row.bot').length > {count_before}", timeout=60_000)
    assert page.locator(".buttons button:not([disabled])").count() <= page.locator(".buttons").last.locator("button").count()


def test_markup_is_shown_as_text_not_run(stack, page):
    page.goto(stack.web_url + "/")
    page.evaluate("window.__xss = false")
    # typed at once, while the greeting may still be on its way: it must be queued, not dropped
    page.fill("#input", "<img src=x onerror=\"window.__xss=true\">我要投诉")
    page.keyboard.press("Enter")
    page.wait_for_selector(".row.user .bubble:has-text('<img')")
    page.wait_for_function("document.querySelectorAll('.row.bot:not(.typing)').length >= 2", timeout=60_000)
    assert page.evaluate("window.__xss") is False
    assert page.locator("img").count() == 0
