"""examples/async_tour.py runs as its docstring says, on every in-repo backend."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_the_async_tour_runs_on_every_backend(dbplex_servers: Any, tmp_path: Path) -> None:
    config = tmp_path / "dbplex.toml"
    lines = [f'[sources.{name}]\nurl = "{dbplex_servers.url(name)}"\n' for name in ("pg", "redis", "mongo")]
    lines.append(f'[sources.local]\nurl = "sqlite:///{tmp_path / "local.db"}"\n')
    config.write_text("\n".join(lines))
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "async_tour.py"), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for name in ("pg", "redis", "mongo"):
        line = re.compile(
            rf"^{name} \({name}\): wrote and read 100 records \(sum 4950\), [1-9]\d* reads cancelled; "
            r"pool: \d+ open, 0 in use, at most 10$",
            re.M,
        )
        assert line.search(done.stdout), done.stdout
    assert "local: skipped: source 'local': backend 'sqlite'" in done.stdout
