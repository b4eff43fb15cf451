import logging

from bianmin.pii import MaskingFilter, mask_address, mask_id_number, mask_name, mask_phone, mask_text


def test_mask_text_hides_mobile_id_and_landline():
    text = "我叫张伟，电话13812345678，身份证110105199003071235，座机010-62345678"
    masked = mask_text(text)
    assert "13812345678" not in masked and "138****5678" in masked
    assert "110105199003071235" not in masked and masked.count("1235") == 1
    assert "62345678" not in masked
    assert mask_text("电话 138 1234 5678") == "电话 138****5678"


def test_mask_text_leaves_ticket_numbers_and_dates():
    assert mask_text("工单TS20261123-0007，2026-11-23") == "工单TS20261123-0007，2026-11-23"


def test_field_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id_number("110105199003071235") == "110***********1235"
    assert mask_name("张伟") == "张*" and mask_name("欧阳娜娜") == "欧***"
    assert mask_address("朝阳区建国路88号3栋501室") == "朝阳区****"


def test_logging_filter_masks_formatted_messages(caplog):
    logger = logging.getLogger("bianmin.test")
    handler_filter = MaskingFilter()
    record = logger.makeRecord("x", logging.INFO, __file__, 1, "phone=%s", ("13912345678",), None)
    handler_filter.filter(record)
    assert record.getMessage() == "phone=139****5678"
