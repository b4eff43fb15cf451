"""Petition intake (信访): the facts, the request, the body or official concerned, whether it was raised before,
and the petitioner's real-name details (信访 is registered under the petitioner's name).

A matter already in litigation, arbitration or administrative reconsideration is not accepted as a 信访: the
form stops before any personal data is asked for and suggests legal aid instead (nothing is filed).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from actions.intake import ADDRESS, ID_NUMBER, NAME, PHONE, TEXT, TICKET_REF, YESNO, Field, IntakeSpec, register


def _in_litigation(values: Mapping[str, Any]) -> Optional[str]:
    return "litigation" if values.get("intake_litigation") is True else None


def _raised_before(values: Mapping[str, Any]) -> bool:
    return values.get("intake_raised_before") is True


PETITION = register(IntakeSpec(
    ticket_type="petition",
    name_zh="信访事项",
    intro="好的，我来帮您登记信访事项。先了解一下事情本身，再登记您的个人信息；想退出随时说“取消”。",
    privacy_note="依照《信访工作条例》，信访事项需要实名登记。您的姓名、身份证号、电话和住址仅用于核实身份、"
                 "办理和答复本事项，不会对外公开。",
    lead_slot="intake_facts",
    stop_when=_in_litigation,
    submitted="您的信访事项已登记成功。",
    fields=(
        Field("intake_facts", "facts", "事实经过", TEXT,
              "请说明事情的经过：什么时间、什么地点、涉及什么人和事。",
              min_chars=6,
              too_short="说得有点简单，请再具体说说事情的经过，例如“2025年村里修路占了我家两亩地，补偿款至今没有发放”。"),
        Field("intake_request", "request", "诉求", TEXT,
              "您的诉求是什么？也就是希望有关部门怎么解决，例如“按标准补发征地补偿款”。",
              min_chars=4, too_short="请把诉求说得具体一些，例如“按标准补发征地补偿款”或“要求对××的行为进行调查处理”。",
              aliases=("诉求", "要求")),
        Field("intake_litigation", "litigation", "是否已起诉/仲裁/复议", YESNO,
              "这件事是否已经向法院起诉，或者申请了仲裁、行政复议？",
              yes_label="已起诉/仲裁/复议", no_label="没有"),
        Field("intake_agency", "target", "反映对象", TEXT,
              "这件事涉及哪个单位或哪位工作人员？例如“某某镇人民政府”“街道办拆迁组”。",
              min_chars=2, too_short="请说一下涉及的单位或工作人员，例如“某某镇人民政府”；"
                                     "如果不涉及具体单位，可以说“不涉及具体单位”。"),
        Field("intake_raised_before", "raised_before", "此前是否反映过", YESNO,
              "这件事以前反映过吗（信访、12345或其他渠道）？", yes_label="反映过", no_label="没有"),
        Field("intake_previous_ticket", "previous_ticket", "此前编号", TICKET_REF,
              "之前的编号是多少？例如 XF20261015-0032；记不清可以说“不记得”。",
              ask_if=_raised_before),
        Field("intake_person_name", "person_name", "姓名", NAME, "请告诉我您的姓名。", personal=True,
              required_why="信访需要实名登记，请告诉我您的姓名。"),
        Field("intake_id_number", "id_number", "身份证号", ID_NUMBER, "请输入您的身份证号码。", personal=True,
              required_why="信访需要实名登记，请输入您的18位身份证号码。"),
        Field("intake_phone", "phone", "联系电话", PHONE, "请留一个联系电话，用于告知您受理和办理结果。", personal=True,
              required_why="信访需要留联系电话，以便告知您受理和办理结果。"),
        Field("intake_address", "address", "住址", ADDRESS,
              "请告诉我您的住址，写到区、街道（路）和门牌号，例如：朝阳区建国路88号3号楼2单元501。",
              personal=True, entity_cue=r"住|住址|地址|家在"),
    ),
))
