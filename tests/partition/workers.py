"""Maintenance from several processes at once, for the backends' concurrency tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import msgspec

from dbplex.partition import PartitionSpec

WORKER = """
import json, sys, time
from datetime import datetime
import msgspec, dbplex
from dbplex.partition import PartitionSpec
from dbplex.partition.maintain import run
source, spec = json.loads(sys.argv[1]), msgspec.json.decode(sys.argv[2], type=PartitionSpec)
now, start = datetime.fromisoformat(sys.argv[3]), float(sys.argv[4])
with dbplex.open({"sources": {spec.source: source}}) as hub:
    partitioner = hub.partitioner(spec.source)
    partitioner.inspect(spec)  # connected before the start line
    time.sleep(max(start - time.time(), 0))
    report = run(partitioner, spec, "apply", now=now)
print(json.dumps({"status": report.status, "error": report.error,
                  "created": [a.partition for a in report.actions if a.kind == "create"]}))
"""


def run_concurrently(
    source: dict[str, Any], spec: PartitionSpec, now: datetime, workers: int = 4
) -> list[dict[str, Any]]:
    """``apply`` of ``spec`` from ``workers`` processes released at the same instant; their reports
    (``status``, ``error``, and the partitions each one ``created``)."""
    start = time.time() + 3
    argv = [sys.executable, "-c", WORKER, json.dumps(source), msgspec.json.encode(spec).decode(), now.isoformat()]
    processes = [
        subprocess.Popen([*argv, str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports
