"""Write the sandbox's ``dbplex.toml``: one source per server, named after it."""

from __future__ import annotations

import msgspec

from dbplex.sandbox.records import Sandbox


def write(sandbox: Sandbox) -> None:
    lines = ["# Written by `dbplex sandbox up`; removed by `dbplex sandbox down`.", ""]
    for server in sandbox.servers:
        # a JSON string is also a valid TOML basic string
        url = msgspec.json.encode(server.url).decode()
        lines += [f"# {server.kind} {server.binary} (pid {server.pid})", f"[sources.{server.name}]", f"url = {url}", ""]
    sandbox.config_path.write_text("\n".join(lines))
