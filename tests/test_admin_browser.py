"""FAQ knowledge end to end on the real assistant (`bianmin run`): an admin curates in headless Chromium and the
resident chat page answers the new entry without a restart; starter entries and paraphrases through Rasa."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import REPO, new_sender

pytestmark = [pytest.mark.stack]

ADMIN_PASSWORD = "faq-admin-passw0rd"
QUESTION = "社区老年大学书法班怎么报名？"
ANSWER = "书法班每周二上午在社区活动中心现场报名，带上身份证即可。"


@pytest.fixture(scope="module")
def admin(stack) -> str:
    """An admin account in the stack's database, created with the real CLI."""
    name = f"faqadmin{uuid.uuid4().hex[:6]}"
    proc = subprocess.run([sys.executable, "-m", "bianmin.cli", "user", "add", name, "--role", "admin",
                           "--password-stdin"], input=ADMIN_PASSWORD + "\n", env=stack.env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return name


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    yield ctx
    ctx.close()


def bot_texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


@pytest.mark.browser
def test_admin_publishes_a_faq_and_the_chat_page_answers_it(stack, admin, context):
    page = context.new_page()
    page.goto(stack.web_url + "/admin")
    assert "/login?next=" in page.url                        # not signed in: sent to the login page
    page.fill("#username", admin)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/admin"))
    page.wait_for_selector("#faq-rows tr.selectable", timeout=30_000)   # the starter set is there

    page.click("#new-faq")
    page.fill("#f-question", QUESTION)
    page.fill("#f-similar", "老年大学书法课在哪报名\n想学书法去哪里报名")
    page.fill("#f-answer", ANSWER + "咨询请拨打{hotline}。")
    page.fill("#f-tags", "养老服务，老年大学")
    page.click("#save")
    page.wait_for_selector("#notice:has-text('草稿')")
    assert page.locator("#editor-status").inner_text().startswith("草稿")

    page.click("#save-publish")
    page.wait_for_selector("#notice:has-text('发布')")
    assert page.locator("#editor-status").inner_text().startswith("已发布")
    page.wait_for_function("document.getElementById('rendered').textContent.includes('咨询请拨打12345')")

    page.click("#show-history")
    page.wait_for_selector("#history .entry")
    assert page.locator("#history .entry").count() == 2     # 新建 + 发布
    page.screenshot(path=str(stack.var / "admin_console.png"))

    page.click(".tab[data-tab=preview]")
    page.fill("#preview-q", QUESTION)
    page.click("#preview-form button[type=submit]")
    page.wait_for_selector("#preview-result .decision.answer")
    assert ANSWER in page.locator("#preview-result .answer-box").inner_text()

    chat = context.new_page()
    chat.goto(stack.web_url + "/")
    chat.wait_for_selector(".row.bot .bubble", timeout=60_000)
    chat.fill("#input", QUESTION)
    chat.keyboard.press("Enter")
    chat.wait_for_selector(f".row.bot .bubble:has-text('{ANSWER[:12]}')", timeout=60_000)
    last = chat.locator(".buttons").last
    assert last.locator("button").all_inner_texts() == ["有帮助", "没帮助"]
    last.locator("button", has_text="有帮助").click()
    chat.wait_for_selector(".row.bot .bubble:has-text('感谢您的反馈')", timeout=60_000)

    # the rating shows up in the console
    page.click(".tab[data-tab=feedback]")
    page.wait_for_selector(f"#feedback-rows tr:has-text('{QUESTION}')")


def test_starter_faq_through_rasa_with_feedback(stack):
    sender = new_sender("faq")
    replies = stack.chat(sender, "身份证丢了怎么补办")
    assert replies[0]["text"].startswith("【身份证丢了怎么办？】"), replies
    assert "{" not in replies[0]["text"]
    payloads = {b["title"]: b["payload"] for b in replies[0]["buttons"]}
    assert json.loads(payloads["没帮助"][len("/faq_feedback"):]) == {"faq_id": "shenfenzheng-lost", "helpful": False}
    replies = stack.chat(sender, payloads["没帮助"])
    assert "抱歉没能帮到您" in bot_texts(replies)
    assert any(b["payload"] == "/human_handoff" for b in replies[0].get("buttons", []))


def test_paraphrase_through_rasa(stack):
    replies = stack.chat(new_sender("faq"), "居住证申请交上去了大概几天能去拿")
    assert replies[0]["text"].startswith("【居住证申请后多久能拿到？】"), replies


def test_unsure_question_offers_candidates_and_a_choice_answers(stack):
    sender = new_sender("faq")
    replies = stack.chat(sender, "公积金的事想问问")
    assert replies[0]["text"] == "您是不是想问：", replies
    buttons = replies[0]["buttons"]
    assert buttons[-1]["title"] == "都不是"
    chosen = buttons[0]
    replies = stack.chat(sender, chosen["payload"])
    assert replies[0]["text"].startswith(f"【{chosen['title']}】"), replies
    replies = stack.chat(sender, buttons[-1]["payload"])
    assert "记下您的问题" in bot_texts(replies)


def test_an_edit_answers_the_next_message_without_restart(stack):
    """A change made with the CLI (another process) is answered by the running assistant's next message."""
    question = "社区助餐点周末开门吗？"
    entry = [{"id": "test-zhucan-weekend", "question": question, "similar": ["助餐点周末营业吗"],
              "answer": "社区助餐点周末照常开门（第一版）。", "status": "published"}]
    path = stack.var / "faq_edit.yml"

    def cli_import(answer: str) -> None:
        entry[0]["answer"] = answer
        path.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")   # JSON is valid YAML
        proc = subprocess.run([sys.executable, "-m", "bianmin.cli", "faq", "import", str(path)], env=stack.env,
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr

    cli_import("社区助餐点周末照常开门（第一版）。")
    assert "第一版" in bot_texts(stack.chat(new_sender("faq"), question))
    cli_import("社区助餐点周末休息（第二版）。")
    started = time.monotonic()
    assert "第二版" in bot_texts(stack.chat(new_sender("faq"), question))
    assert time.monotonic() - started < 30
