"""Complaint / report intake (投诉举报): what happened, where, when, a contact phone, a name if the resident wants.

Anonymous reports (匿名举报, 不想留电话) skip phone and name; the ticket then gets a query code instead.
The form itself is ``intake_form`` in ``actions/intake.py``.
"""
from __future__ import annotations

from typing import Any, Mapping

from actions.intake import ADDRESS, ANONYMOUS_SLOT, DATE, NAME, PHONE, TEXT, Field, IntakeSpec, register


def _named(values: Mapping[str, Any]) -> bool:
    return not values.get(ANONYMOUS_SLOT)


COMPLAINT = register(IntakeSpec(
    ticket_type="complaint",
    name_zh="投诉",
    intro="好的，我来帮您登记投诉（举报）。您已经说过的内容我不会再问；想退出随时说“取消”。",
    privacy_note="您留下的电话和姓名只用于承办部门联系您核实情况和回访，不会对外公开。",
    lead_slot="intake_description",
    allows_anonymous=True,
    submitted="您的投诉已提交成功。",
    fields=(
        Field("intake_description", "description", "问题描述", TEXT,
              "请具体说说发生了什么事，比如：什么问题、持续多久、影响到谁。",
              min_chars=6,
              too_short="描述有点简单，请再具体说说发生了什么，例如“楼下烧烤店每天营业到凌晨两点，油烟和噪音很大”。"),
        Field("intake_address", "address", "发生地点", ADDRESS,
              "这件事发生在哪里？请尽量写到区、街道（路）和小区或门牌号，例如：朝阳区建国路88号。"),
        Field("intake_occurred_at", "occurred_at", "发生时间", DATE,
              "这件事是什么时候发生的？可以说“昨天晚上十点”“11月20日”；如果一直存在，可以说“持续一个月了”。"),
        Field("intake_phone", "phone", "联系电话", PHONE,
              "请留一个联系电话，方便承办部门联系您。不想留电话也可以说“匿名举报”。",
              personal=True, ask_if=_named),
        Field("intake_person_name", "person_name", "姓名", NAME,
              "怎么称呼您？请留下姓名，也可以说“不留”跳过。",
              optional=True, personal=True, ask_if=_named),
    ),
))
