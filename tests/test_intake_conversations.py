"""Whole conversations against the real assistant (trained model, action server, SQLite case store under the
stack's temporary var/): intake of complaints, petitions and legal-aid applications, progress, rating."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO, new_sender

pytestmark = pytest.mark.stack

PHONE = "13812345678"
VALID_ID = "320102197811054323"
BAD_ID = "320102197811054321"


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def payloads(messages: list[dict[str, Any]]) -> list[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


def talk(stack: Any, sender: str, *messages: str) -> list[dict[str, Any]]:
    """Several resident messages in a row; the bot's replies to the last one."""
    replies: list[dict[str, Any]] = []
    for message in messages:
        replies = stack.chat(sender, message)
    return replies


def number_in(text: str) -> str:
    m = re.search(r"(TS|XF|FY)\d{8}-\d{4,}", text)
    assert m, text
    return m.group(0)


def slots(stack: Any, sender: str) -> dict[str, Any]:
    return stack.tracker(sender)["slots"]


def tickets_of(stack: Any, sender: str) -> list[dict[str, Any]]:
    """The rows as stored, with ``fields`` opened (they are sealed at rest) and given back as JSON text."""
    from bianmin.crypto import DataKeys
    from cases.sql_store import fields_are_sealed, open_fields

    keys = DataKeys.from_env(stack.var, env={})
    with sqlite3.connect(stack.var / "bianmin.db") as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM tickets WHERE sender_id = ? ORDER BY id", (sender,))]
    for row in rows:
        stored = json.loads(row["fields"])
        assert fields_are_sealed(stored), stored
        row["fields"] = json.dumps(open_fields(keys, row["number"], stored), ensure_ascii=False)
    return rows


def staff_sets_status(stack: Any, number: str, status: str, note: str = "") -> None:
    """What hotline staff do from a terminal: `bianmin ticket status`."""
    done = subprocess.run([sys.executable, "-m", "bianmin.cli", "ticket", "status", number, status, "--note", note,
                           "--actor", "staff-test"], cwd=REPO, env=stack.env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------------------------------ complaint
def test_complaint_with_the_facts_up_front_asks_only_what_is_missing(stack):
    sender = new_sender()
    first = stack.chat(sender, f"上周三晚上楼下KTV吵到半夜 我住朝阳区建国路88号3栋501 电话{PHONE}")
    asked = texts(first)
    assert "称呼" in asked                                        # the only thing still missing: the name
    assert "发生在哪里" not in asked and "什么时候" not in asked and "请留一个联系电话" not in asked
    assert "不会对外公开" in asked                                  # why personal data is collected
    summary = texts(stack.chat(sender, "不留"))
    assert "138****5678" in summary and PHONE not in summary
    assert "建国路88号" in summary and re.search(r"\d{4}年\d{1,2}月\d{1,2}日晚上", summary)
    assert payloads(stack.chat(sender, "/correct"))[-1] == "/affirm"   # the field picker ends with "submit"
    done = texts(stack.chat(sender, "/affirm"))
    number = number_in(done)
    assert number.startswith("TS") and f"工单号：{number}" in done
    assert "生态环境局" in done and "工作日内" in done
    assert slots(stack, sender)["last_ticket_number"] == number
    rows = tickets_of(stack, sender)
    assert [r["number"] for r in rows] == [number]
    assert json.loads(rows[0]["fields"])["phone"] == PHONE and rows[0]["category"] == "环境保护"


def test_complaint_step_by_step_with_digression_invalid_phone_and_correction(stack):
    sender = new_sender()
    assert "发生了什么" in texts(stack.chat(sender, "我要投诉"))
    assert "发生在哪里" in texts(stack.chat(sender, "小区门口的路灯坏了一个多月没人修"))
    digression = stack.chat(sender, "对了，居住证怎么办？")
    answer = texts(digression[:-1]) + " ".join(b["title"] for m in digression[:-1] for b in m.get("buttons") or [])
    assert "居住证" in answer                                       # answered by the service-enquiry action …
    assert "发生在哪里" in digression[-1]["text"]                   # … and the pending question comes back
    assert "什么时候" in texts(stack.chat(sender, "朝阳区建国路88号"))
    assert "联系电话" in texts(stack.chat(sender, "持续一个多月了"))
    invalid = texts(stack.chat(sender, "1381234"))
    assert "号码好像不对" in invalid and "13812345678" in invalid
    assert "称呼" in texts(stack.chat(sender, PHONE))
    assert "请核对" in texts(stack.chat(sender, "张伟"))
    corrected = texts(stack.chat(sender, "地址不对，应该是朝阳区建国路99号"))
    assert "建国路99号" in corrected and "请核对" in corrected and "张伟" in corrected
    assert "联系电话" in texts(stack.chat(sender, "电话写错了"))
    summary = texts(stack.chat(sender, "13912345678"))
    assert "139****5678" in summary and "138****5678" not in summary
    number = number_in(texts(stack.chat(sender, "/affirm")))
    fields = json.loads(tickets_of(stack, sender)[0]["fields"])
    assert fields["address"] == "朝阳区建国路99号" and fields["phone"] == "13912345678"
    assert tickets_of(stack, sender)[0]["number"] == number and tickets_of(stack, sender)[0]["category"] == "城乡建设"


def test_cancel_stores_nothing(stack):
    sender = new_sender()
    talk(stack, sender, "我要投诉", "楼下饭馆油烟直接排到我家窗户")
    reply = texts(stack.chat(sender, "算了不投诉了"))
    assert "已取消" in reply and "不会保存" in reply
    assert tickets_of(stack, sender) == []
    assert slots(stack, sender)["intake_description"] is None


def test_duplicates_get_the_same_number(stack):
    sender = new_sender()
    story = ["我要投诉", "小区门口的垃圾站三天没人清运了 臭气熏天", "海淀区中关村大街27号", "这几天一直这样", PHONE, "不留"]
    first = number_in(texts(talk(stack, sender, *story, "/affirm")))
    again = texts(stack.chat(sender, "/affirm"))                     # a double-clicked 提交
    assert "您刚才已提交过相同的事项" in again and first in again
    resent = texts(talk(stack, sender, *story, "/affirm"))           # the same complaint re-sent within 10 minutes
    assert "您刚才已提交过相同的事项" in resent and first in resent
    assert [r["number"] for r in tickets_of(stack, sender)] == [first]


def test_anonymous_report_gets_a_query_code_that_finds_it_from_elsewhere(stack):
    sender = new_sender()
    talk(stack, sender, "匿名举报 我们小区旁边的工厂晚上偷排废气 味道特别呛")
    talk(stack, sender, "西城区月坛南街12号")
    summary = texts(stack.chat(sender, "这几天每天晚上"))
    assert "匿名" in summary and "联系电话" not in summary
    done = texts(stack.chat(sender, "/affirm"))
    code = re.search(r"查询码：([A-Z0-9]{6})", done).group(1)
    number = number_in(done)
    elsewhere = new_sender()
    asked = texts(stack.chat(elsewhere, "查询进度"))
    assert "查询码" in asked
    found = texts(stack.chat(elsewhere, code))
    assert f"工单 {number}" in found and "已受理" in found
    assert json.loads(tickets_of(stack, sender)[0]["fields"]).get("phone") is None


def test_session_start_offers_to_continue_a_half_filled_complaint(stack):
    sender = new_sender()
    talk(stack, sender, "我要投诉", "楼上天天半夜拖椅子 吵得睡不着")
    offer = stack.chat(sender, "/session_start")
    assert "还没有填完" in texts(offer)
    assert payloads(offer) == ["/resume_intake", "/restart_intake", "/cancel"]
    resumed = texts(stack.chat(sender, "/resume_intake"))
    assert "接着填写" in resumed and "发生在哪里" in resumed
    assert slots(stack, sender)["intake_description"] == "楼上天天半夜拖椅子 吵得睡不着"


# ------------------------------------------------------------------------------------------------ petition, legal aid
def test_petition_happy_path(stack):
    sender = new_sender()
    assert "诉求" in texts(stack.chat(sender, "我们村的地被征了 补偿款到现在还没发下来"))
    assert "起诉" in texts(stack.chat(sender, "要求按标准发放征地补偿款"))
    assert "单位" in texts(stack.chat(sender, "没有"))
    assert "反映过" in texts(stack.chat(sender, "某某镇人民政府"))
    assert "编号" in texts(stack.chat(sender, "反映过"))
    name = texts(stack.chat(sender, "不记得了"))
    assert "实名" in name and "姓名" in name
    assert "身份证" in texts(stack.chat(sender, "我叫李秀英"))
    assert "身份证号校验未通过，请核对后重新输入" in texts(stack.chat(sender, BAD_ID))
    assert "电话" in texts(stack.chat(sender, VALID_ID))
    assert "住址" in texts(stack.chat(sender, "13512345678"))
    summary = texts(stack.chat(sender, "海淀区中关村大街27号"))
    assert "320***********4323" in summary and VALID_ID not in summary
    done = texts(stack.chat(sender, "/affirm"))
    number = number_in(done)
    assert number.startswith("XF") and "信访局" in done
    assert "15日内" in done and "是否受理" in done and "60日内" in done
    row = tickets_of(stack, sender)[0]
    assert row["id_last4"] == "4323" and row["department"] == "信访局（信访办公室）"


def test_petition_already_in_court_is_not_filed_and_legal_aid_is_suggested(stack):
    sender = new_sender()
    talk(stack, sender, "对镇政府的拆迁补偿决定不服 我要上访", "要求重新评估我家房屋")
    reply = stack.chat(sender, "已经起诉到法院了")
    assert "不予受理" in texts(reply) and "/legal_aid" in payloads(reply)
    assert "工单号" not in texts(reply) and tickets_of(stack, sender) == []


def test_legal_aid_happy_path(stack):
    sender = new_sender()
    first = stack.chat(sender, "我要申请法律援助")
    assert '/inform{"legal_matter_type": "劳动"}' in payloads(first)
    assert "经过" in texts(stack.chat(sender, '/inform{"legal_matter_type":"劳动"}'))
    hardship = texts(stack.chat(sender, "在鑫达建筑公司干了三个月 老板拖欠工资两万三"))
    assert "经济困难" in hardship and "第三十二条" in hardship and "农民工" in hardship
    assert "仲裁" in texts(stack.chat(sender, "月收入两千多 家里四口人 是低保户"))
    reply = texts(stack.chat(sender, "已经申请劳动仲裁了"))
    assert "同样可以申请法律援助" in reply and "姓名" in reply
    talk(stack, sender, "赵敏", VALID_ID)
    summary = texts(stack.chat(sender, "15088886666"))
    assert "劳动" in summary and "150****6666" in summary
    done = texts(stack.chat(sender, "/affirm"))
    assert number_in(done).startswith("FY") and "7日内" in done and "法律援助中心" in done
    assert json.loads(tickets_of(stack, sender)[0]["fields"])["litigation"] is True


# ------------------------------------------------------------------------------------------------ progress, rating
def test_progress_by_number_my_tickets_and_phone_with_id_last4(stack):
    sender = new_sender()
    talk(stack, sender, "我要投诉", "马路中间一个大坑 昨晚有两个骑电动车的摔了", "东城区东直门南大街5号", "昨天晚上",
         PHONE, "王建国")
    number = number_in(texts(stack.chat(sender, "/affirm")))
    by_number = texts(stack.chat(sender, f"{number} 现在进展如何"))
    assert f"工单 {number}" in by_number and "当前状态：已受理" in by_number and "办理时限" in by_number
    mine = texts(stack.chat(sender, "我的工单"))
    assert f"工单 {number}" in mine
    stranger = new_sender()
    assert "核实身份" in texts(stack.chat(stranger, f"查一下{number}"))
    assert texts(stack.chat(stranger, "13900000000")).startswith("没有查到与您提供的信息相符的工单")
    assert "核实身份" in texts(stack.chat(stranger, f"查一下{number}"))
    assert f"工单 {number}" in texts(stack.chat(stranger, PHONE))
    petitioner = new_sender()
    talk(stack, petitioner, "反映街道违规发放拆迁补偿 关系户拿得多", "要求公开补偿标准并重新核定", "没有", "某某街道办事处",
         "没有", "我叫刘德明", "440304198506123455", "13611112222", "南山区科技园路1号")
    xf = number_in(texts(stack.chat(petitioner, "/affirm")))
    elsewhere = new_sender()
    assert "身份证号后四位" in texts(stack.chat(elsewhere, "我的工单"))
    assert texts(stack.chat(elsewhere, "13611112222 0000")).startswith("没有查到与您提供的信息相符的工单")
    stack.chat(elsewhere, "查询进度")
    assert f"工单 {xf}" in texts(stack.chat(elsewhere, "13611112222 3455"))
    assert "没有查到工单 TS20200101-9999" in texts(stack.chat(new_sender(), "TS20200101-9999进度"))


def test_rating_after_staff_resolves_the_ticket(stack):
    sender = new_sender()
    talk(stack, sender, "我要投诉", "楼道灯坏了半年物业都不修", "丰台区丰台北路18号院3号楼", "半年了", PHONE, "不留")
    number = number_in(texts(stack.chat(sender, "/affirm")))
    assert not any(p.startswith("/rate") for p in payloads(stack.chat(sender, number)))   # not resolved yet
    staff_sets_status(stack, number, "已办结", "物业已更换楼道灯")
    shown = stack.chat(sender, number)
    assert "当前状态：已办结" in texts(shown) and "物业已更换楼道灯" in texts(shown)
    rate = f'/rate{{"ticket_number": "{number}", "rating": 4}}'
    assert rate in payloads(shown)
    assert "1到5星" in texts(stack.chat(sender, f'/rate{{"ticket_number":"{number}","rating":7}}'))
    assert "感谢您的评价" in texts(stack.chat(sender, rate))
    assert tickets_of(stack, sender)[0]["rating"] == 4
    assert "已经评价过" in texts(stack.chat(sender, rate))
    assert "您的评价：★★★★" in texts(stack.chat(sender, number))


def test_personal_data_is_masked_in_the_logs(stack):
    sender = new_sender()
    talk(stack, sender, f"楼下烧烤店天天吵到半夜两点 电话{PHONE}", "海淀区中关村大街27号", "每天晚上", "不留", "/affirm")
    for name in ("actions.log", "rasa.log", "web.log"):
        path = stack.var / "log" / name
        if path.exists():
            assert PHONE not in path.read_text(encoding="utf-8", errors="replace"), name


# ------------------------------------------------------------------------------------------------ store down
def test_store_down_says_not_submitted_and_keeps_the_answers(store_down_stack):
    stack = store_down_stack
    sender = new_sender()
    talk(stack, sender, "我要投诉", "小区里流浪狗太多 已经咬伤过小孩了", "通州区新华大街1号", "上个月开始", PHONE, "不留")
    failed = stack.chat(sender, "/affirm")
    text = texts(failed)
    assert "没有**提交成功" in text and "工单号：" not in text and not re.search(r"TS\d{8}", text)
    assert payloads(failed) == ["/affirm"]                                     # 重试
    kept = slots(stack, sender)
    assert kept["intake_description"] == "小区里流浪狗太多 已经咬伤过小孩了" and kept["intake_phone"] == PHONE
    assert kept["intake_ticket"] is None and kept.get("last_ticket_number") is None
    assert "没有**提交成功" in texts(stack.chat(sender, "/affirm"))             # still down: still honest
