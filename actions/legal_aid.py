"""Legal-aid application (法律援助申请): the matter type, the facts, the applicant's economic situation, whether
a lawsuit or arbitration is under way, and the applicant's name, ID number and phone.

Being in litigation or arbitration does not bar legal aid (unlike a 信访): the resident is told so.
"""
from __future__ import annotations

from actions.intake import CHOICE, ID_NUMBER, NAME, PHONE, TEXT, YESNO, Field, IntakeSpec, register

MATTER_TYPES = ("劳动", "工伤", "婚姻家庭", "交通事故", "借贷", "房屋", "消费", "其他")

HARDSHIP_PROMPT = (
    "请简单说明您的经济困难情况，例如：月收入多少、家里几口人、是否领取低保或特困供养。\n"
    "提示：遭受虐待、遗弃或家庭暴力的受害人主张相关权益、因见义勇为主张相关民事权益等情形，"
    "依照《中华人民共和国法律援助法》第三十二条不受经济困难条件限制；不少地方对农民工讨薪、工伤赔偿也免予"
    "经济困难审查（以当地规定为准）。属于这些情形的，直接说明即可。")

LEGAL_AID = register(IntakeSpec(
    ticket_type="legal_aid",
    name_zh="法律援助申请",
    intro="好的，我来帮您在线提交法律援助申请，需要了解事项类型、基本经过、经济状况和申请人信息；想退出随时说“取消”。",
    privacy_note="您的姓名、身份证号和电话仅用于法律援助机构审查申请和联系您，不会对外公开。",
    lead_slot="intake_facts",
    submitted="您的法律援助申请已提交成功。",
    fields=(
        Field("intake_matter_type", "legal_matter_type", "事项类型", CHOICE,
              "请选择您要申请法律援助的事项类型：", choices=MATTER_TYPES, aliases=("类型",)),
        Field("intake_facts", "facts", "基本经过", TEXT,
              "请简要说明事情经过，例如：对方是谁、发生了什么、涉及多少钱。",
              min_chars=6,
              too_short="说得有点简单，请再具体说说，例如“在某建筑公司干了三个月，老板拖欠工资两万三千元”。"),
        Field("intake_hardship", "hardship", "经济困难情况", TEXT, HARDSHIP_PROMPT, min_chars=3,
              too_short="请再具体说一下经济情况，例如“月收入两千元，家里四口人，领低保”，或说明属于免审情形。"),
        Field("intake_litigation", "litigation", "是否已起诉/仲裁", YESNO,
              "这件事现在是否已经起诉到法院，或者正在劳动仲裁？",
              yes_label="已起诉/仲裁", no_label="没有",
              notes=((True, "已经在诉讼或仲裁中的，同样可以申请法律援助，我们会一并告知法律援助机构。"),)),
        Field("intake_person_name", "person_name", "申请人姓名", NAME, "请告诉我申请人的姓名。", personal=True,
              required_why="申请法律援助需要申请人的真实姓名。"),
        Field("intake_id_number", "id_number", "身份证号", ID_NUMBER, "请输入申请人的身份证号码。", personal=True,
              required_why="申请法律援助需要申请人的身份证号码，请输入18位号码。"),
        Field("intake_phone", "phone", "联系电话", PHONE, "请留一个联系电话，方便法律援助机构联系您。",
              personal=True, required_why="需要留联系电话，法律援助机构才能告知您审查结果。"),
    ),
))
