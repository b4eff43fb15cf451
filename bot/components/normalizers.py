"""Pure functions that read residents' Chinese: numerals, phones, ID numbers, ticket numbers, dates.

Everything here is length-preserving where it rewrites text (``normalize_for_matching``), so a match
found in the normalised copy has the same offsets in the original message.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# ---------------------------------------------------------------- characters
_FULLWIDTH = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
_CN_DIGIT = {"零": "0", "〇": "0", "○": "0", "Ｏ": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
             "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_CN_DIGIT_RUN = re.compile(r"[零〇○一幺二两三四五六七八九0-9][零〇○一幺二两三四五六七八九0-9 \-]{5,}[零〇○一幺二两三四五六七八九0-9]")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff]")


def to_halfwidth(text: str) -> str:
    """Full-width ASCII (１３８, ＴＳ) to half-width; one character for one, so offsets are kept."""
    return text.translate(_FULLWIDTH)


def strip_control(text: str) -> str:
    return _CONTROL.sub("", text)


def normalize_for_matching(text: str) -> str:
    """Half-width, and digit runs dictated in Chinese (一三八一二三四五六七八) as Arabic digits.

    Only runs of 7+ digit characters are rewritten, so 三月五号 or 一个人 are left alone.
    """
    text = to_halfwidth(text)

    def conv(m: re.Match[str]) -> str:
        run = m.group(0)
        digits = sum(1 for ch in run if ch in _CN_DIGIT or ch.isdigit())
        if digits < 7:
            return run
        return "".join(_CN_DIGIT.get(ch, ch) for ch in run)

    return _CN_DIGIT_RUN.sub(conv, text)


_NUM_UNITS = {"十": 10, "百": 100, "千": 1000}


def parse_cn_int(token: str) -> int | None:
    """'15', '十五', '二十一', '两', '廿三' -> int; None when it is not a number."""
    token = to_halfwidth(token.strip())
    if not token:
        return None
    if token.isdigit():
        return int(token)
    token = token.replace("廿", "二十").replace("卅", "三十")
    total, current = 0, 0
    for ch in token:
        if ch in _CN_DIGIT:
            current = int(_CN_DIGIT[ch])
        elif ch in _NUM_UNITS:
            total += (current or 1) * _NUM_UNITS[ch]
            current = 0
        else:
            return None
    return total + current


# ---------------------------------------------------------------- ID numbers (GB 11643-1999)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")


def id_checksum(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def is_valid_id_number(value: str) -> bool:
    """18-character resident ID: digits, valid birth date, and the GB 11643 check character."""
    value = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not (dt.date(1900, 1, 1) <= birth <= dt.date.today()):
        return False
    return id_checksum(value[:17]) == value[17]


# ---------------------------------------------------------------- phones
MOBILE = re.compile(r"(?<![\d])(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?![\d])")
LANDLINE = re.compile(r"(?<![\d])[(（]?(0\d{2,3})[)）]?[- ]?([2-9]\d{6,7})(?![\d])")


def normalize_phone(text: str) -> str | None:
    """One phone number in canonical form (13812345678 / 010-62345678), or None."""
    norm = normalize_for_matching(text)
    m = MOBILE.search(norm)
    if m:
        return "".join(m.groups())
    m = LANDLINE.search(norm)
    if m:
        return f"{m.group(1)}-{m.group(2)}"
    return None


# ---------------------------------------------------------------- ticket numbers
TICKET_ID = re.compile(r"(?<![A-Za-z])(TS|XF|FY)[ -]?(20\d{6})[ -]?(\d{4})(?!\d)", re.IGNORECASE)


def normalize_ticket_id(text: str) -> str | None:
    m = TICKET_ID.search(to_halfwidth(text))
    return f"{m.group(1).upper()}{m.group(2)}-{m.group(3)}" if m else None


# ---------------------------------------------------------------- dates and times
_N = r"[0-9零〇一二两三四五六七八九十廿]{1,4}"
PERIODS = {"凌晨": "凌晨", "早上": "早上", "早晨": "早上", "清早": "早上", "上午": "上午", "中午": "中午",
           "下午": "下午", "傍晚": "傍晚", "晚上": "晚上", "夜里": "晚上", "夜间": "晚上", "半夜": "半夜",
           "深夜": "半夜", "后半夜": "半夜"}
_PERIOD_RE = "|".join(sorted(PERIODS, key=len, reverse=True))
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_DAY_WORDS = {"今天": 0, "今日": 0, "今儿": 0, "昨天": -1, "昨日": -1, "昨儿": -1, "前天": -2, "大前天": -3}
_SHORT_DAY = {"昨晚": (-1, "晚上"), "昨夜": (-1, "晚上"), "今晚": (0, "晚上"), "今早": (0, "早上"),
              "前晚": (-2, "晚上"), "昨早": (-1, "早上")}

DATE_RE = re.compile(
    r"(?P<date>"
    r"(?P<ymd>(?P<y>20\d{2}|19\d{2})[年./-](?P<m>\d{1,2}|" + _N + r")[月./-](?P<d>\d{1,2}|" + _N + r")[日号]?)"
    r"|(?P<md>(?P<m2>\d{1,2}|[一二三四五六七八九十]{1,3})月(?P<d2>\d{1,2}|[一二三四五六七八九十廿]{1,3})[日号])"
    r"|(?P<rel_month>(?P<rm>上上|上|这|本)个?月(?P<d3>\d{1,2}|[一二三四五六七八九十廿]{1,3})[日号])"
    r"|(?P<dayword>大前天|前天|昨天|昨日|昨儿|今天|今日|今儿)"
    r"|(?P<short>昨晚|昨夜|今晚|今早|前晚|昨早)"
    r"|(?P<ago>(?P<n_ago>" + _N + r")天(?:以前|之前|前))"
    r"|(?P<week>(?P<wk_rel>上上|上|这|本)?(?:个)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天]))"
    r")"
    r"(?:那天|当天|那晚|的)?"
    r"(?P<time>(?P<period>" + _PERIOD_RE + r")?(?:(?P<h>\d{1,2}|[零一二两三四五六七八九十]{1,3})(?:点|时|:)(?P<mi>半|\d{1,2}分?|[一二三四五]?十[一二三四五六七八九]?分|一刻|三刻)?多?(?:钟)?)?)"
)


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    value: str          # "YYYY-MM-DD", "YYYY-MM-DD HH:MM" or "YYYY-MM-DD 晚上"
    date: dt.date


def _hour_24(hour: int, period: str | None) -> int:
    if period in ("下午", "傍晚", "晚上") and hour < 12:
        return hour + 12
    if period == "中午" and hour < 5:
        return hour + 12
    if period == "半夜" and hour == 12:
        return 0
    return hour


def _minutes(raw: str | None) -> int:
    if not raw:
        return 0
    if raw == "半":
        return 30
    if raw == "一刻":
        return 15
    if raw == "三刻":
        return 45
    return parse_cn_int(raw.rstrip("分")) or 0


def _most_recent(month: int, day: int, today: dt.date) -> dt.date | None:
    for year in (today.year, today.year - 1):
        try:
            d = dt.date(year, month, day)
        except ValueError:
            return None
        if d <= today:
            return d
    return None


def find_dates(text: str, today: dt.date) -> list[DateMention]:
    """Date/time expressions residents use, resolved against ``today`` (relative days, weekdays, M月D日)."""
    norm = to_halfwidth(text)
    found: list[DateMention] = []
    for m in DATE_RE.finditer(norm):
        g = m.groupdict()
        period = PERIODS.get(g["period"]) if g["period"] else None
        day: dt.date | None = None
        if g["ymd"]:
            y, mo, d = int(g["y"]), parse_cn_int(g["m"]), parse_cn_int(g["d"])
            try:
                day = dt.date(y, mo or 0, d or 0)
            except ValueError:
                day = None
        elif g["md"]:
            mo, d = parse_cn_int(g["m2"]), parse_cn_int(g["d2"])
            day = _most_recent(mo or 0, d or 0, today) if mo and d else None
        elif g["rel_month"]:
            back = {"上上": 2, "上": 1}.get(g["rm"], 0)
            month_index = today.year * 12 + today.month - 1 - back
            try:
                day = dt.date(month_index // 12, month_index % 12 + 1, parse_cn_int(g["d3"]) or 0)
            except ValueError:
                day = None
        elif g["dayword"]:
            day = today + dt.timedelta(days=_DAY_WORDS[g["dayword"]])
        elif g["short"]:
            offset, period0 = _SHORT_DAY[g["short"]]
            day = today + dt.timedelta(days=offset)
            period = period or period0
        elif g["ago"]:
            n = parse_cn_int(g["n_ago"])
            day = today - dt.timedelta(days=n) if n is not None and n < 3660 else None
        elif g["week"]:
            monday = today - dt.timedelta(days=today.weekday())
            target = _WEEKDAY[g["wd"]]
            rel = g["wk_rel"]
            if rel == "上":
                day = monday - dt.timedelta(days=7) + dt.timedelta(days=target)
            elif rel == "上上":
                day = monday - dt.timedelta(days=14) + dt.timedelta(days=target)
            elif rel in ("这", "本"):
                day = monday + dt.timedelta(days=target)
            else:  # bare 周三: the most recent one, today included
                day = monday + dt.timedelta(days=target)
                if day > today:
                    day -= dt.timedelta(days=7)
        if day is None:
            continue
        end = m.end()
        hour = parse_cn_int(g["h"]) if g["h"] else None
        if hour is not None and hour <= 24:
            h24 = _hour_24(hour, period) % 24
            value = f"{day.isoformat()} {h24:02d}:{_minutes(g['mi']):02d}"
        elif period:
            value = f"{day.isoformat()} {period}"
        else:
            value = day.isoformat()
            end = m.end("date")
        found.append(DateMention(m.start(), end, value, day))
    return found
