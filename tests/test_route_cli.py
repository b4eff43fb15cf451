"""`bianmin route`: one JSON object for a text argument; one JSON line per stdin line in batch mode."""
import json
import subprocess
import sys

from tests.conftest import REPO

CLI = [sys.executable, "-m", "bianmin.cli", "route"]


def test_route_one_text():
    out = subprocess.run(CLI + ["小区门口的路灯坏了一个月没人修"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"category", "department", "confidence"} <= set(result)
    assert result["category"] == "城乡建设" and 0 <= result["confidence"] <= 1


def test_route_batch_from_stdin_keeps_order_and_survives_bad_lines():
    lines = ["楼下饭店油烟太大熏得受不了", "", "😀😀", "公司拖欠我们三个月工资", "x" * 5000]
    out = subprocess.run(CLI, input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) == len(lines)
    assert results[0]["category"] == "环境保护"
    assert results[3]["category"] == "劳动和社会保障"
    assert results[1]["category"] == results[2]["category"] == "其他"


def test_keywords_do_not_match_inside_phone_numbers():
    from knowledge.routing import route_complaint

    assert "12345" not in route_complaint("我叫王芳 电话13812345678").matched
