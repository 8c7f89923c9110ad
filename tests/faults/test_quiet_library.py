"""Used as a library, dbplex is quiet: a replica outage prints nothing unless logging is configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from dbplex import sandbox
from tests.faults.conftest import restart_if_stopped

APPLICATION = textwrap.dedent(
    """
    import logging, sys, time
    import dbplex
    from dbplex import Get, Put, sandbox

    directory, primary, replica, configure = sys.argv[1:5]
    if configure == "yes":
        logging.basicConfig(level=logging.WARNING)
    source = {
        "url": primary,
        "replicas": [replica],
        "connect_timeout": 2,
        "pool": {"max_size": 2},
        "routing": {"lag_check_interval": 0.2, "breaker": {"failures": 2, "reset_after": 0.3}},
    }

    def read_for(seconds):
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            hub.execute("pg", Get("quiet_library", "k"))

    with dbplex.open({"sources": {"pg": source}}) as hub:
        hub.execute("pg", Put("quiet_library", "k", {"n": 1}))
        read_for(0.5)
        sandbox.stop_server(directory, "pg-replica1")
        read_for(3)
        hub.health()
        sandbox.start_server(directory, "pg-replica1")
        read_for(1)
    print("done")
    """
)


def run_application(drill: sandbox.Sandbox, configure: bool) -> subprocess.CompletedProcess[str]:
    argv = [str(drill.directory), drill.server("pg").url, drill.server("pg-replica1").url, "yes" if configure else "no"]
    try:
        return subprocess.run(
            [sys.executable, "-c", APPLICATION, *argv], capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        restart_if_stopped(drill, "pg-replica1")


def test_a_replica_outage_prints_nothing_when_the_application_configures_no_logging(drill: sandbox.Sandbox) -> None:
    finished = run_application(drill, configure=False)
    assert finished.returncode == 0 and finished.stdout == "done\n", finished.stderr
    assert finished.stderr == ""


def test_the_outage_reaches_the_application_once_it_configures_logging(drill: sandbox.Sandbox) -> None:
    finished = run_application(drill, configure=True)
    assert finished.returncode == 0, finished.stderr
    # dbplex's own line under dbplex.*; the drivers' records reach the application too
    assert "WARNING:dbplex.routing:source 'pg' replica1: out of the read rotation after " in finished.stderr
