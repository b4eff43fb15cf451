"""Where knowledge data files come from: an explicit path, else an environment variable, else the file
shipped next to the module. One loader so every admin-editable YAML file fails the same clear way."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def load_yaml(path: str | Path | None, env_var: str, default: Path, error: type[Exception]) -> tuple[Any, Path]:
    """The parsed YAML and the path it came from; a syntax error becomes ``error`` naming the file."""
    chosen = Path(path if path is not None else (os.environ.get(env_var) or default))
    with chosen.open(encoding="utf-8") as fh:
        try:
            return yaml.safe_load(fh), chosen
        except yaml.YAMLError as exc:
            raise error(f"{chosen}: YAML 格式错误：{exc}") from exc
