"""`bianmin route learn FILE.csv`: validation naming the line, retraining, and live pick-up by running processes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "bianmin.cli", "route"]


def run(var: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BIANMIN_VAR": str(var)}
    return subprocess.run(CLI + list(args), input=stdin, capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)


def history(tmp_path: Path, body: str, name: str = "h.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    return path


@pytest.mark.parametrize("body, needle", [
    ("content,label\n噪音,环境保护\n", "第 1 行"),
    ("text,label\n楼下噪音扰民,环境保护\n路灯坏了,火星事务\n", "第 3 行"),
    ("text,label,note\n楼下噪音扰民,环境保护,x\n  ,城乡建设,y\n", "第 3 行 text 为空"),
])
def test_bad_history_names_the_line_and_keeps_the_old_model(tmp_path, body, needle):
    out = run(tmp_path / "var", "learn", str(history(tmp_path, body)))
    assert out.returncode == 2 and needle in out.stderr and "原模型继续使用" in out.stderr
    assert not (tmp_path / "var" / "routing" / "learned.pkl").exists()


def test_non_utf8_history_is_refused_with_its_line(tmp_path):
    path = history(tmp_path, "text,label\n楼下噪音扰民,环境保护\n商场卖假货,商贸旅游\n", encoding="gbk")
    out = run(tmp_path / "var", "learn", str(path))
    assert out.returncode == 2 and "第 2 行不是 UTF-8" in out.stderr


def test_learn_replace_retrains_and_running_processes_pick_it_up(tmp_path, monkeypatch):
    """A city that files every 充电桩 matter under 商贸旅游: after learning, routing follows its history."""
    from knowledge import routing_model

    var = tmp_path / "var"
    monkeypatch.setenv("BIANMIN_VAR", str(var))
    rows = ["text,label"]
    for i in range(12):
        rows.append(f"小区充电桩第{i}号坏了很久了没人来修理希望尽快处理,商贸旅游")
        rows.append(f"学校第{i}班的老师体罚学生家长很担心,教育文体")
        rows.append(f"工厂第{i}车间拖欠工资三个月了,人力资源和社会保障")   # mapped by label_map
    path = history(tmp_path, "\n".join(rows) + "\n")
    text = "小区充电桩坏了很久了没人来修理希望尽快处理一下这个问题谢谢，已经反映过好几次了，每次都说马上安排人来"
    before = routing_model.default_model().predict(text).label
    out = run(var, "learn", str(path), "--replace")
    assert out.returncode == 0, out.stderr
    assert "macro-F1" in out.stdout and "混淆矩阵" in out.stdout and "交叉验证" in out.stdout
    assert (var / "routing" / "learned.pkl").exists()
    after = routing_model.default_model()          # same process, no restart: the mtime changed
    assert after.labels == ["劳动和社会保障", "商贸旅游", "教育文体"]
    assert after.predict(text).label == "商贸旅游" and before != "商贸旅游"
    cli = run(var, text)
    assert '"category": "商贸旅游"' in cli.stdout
