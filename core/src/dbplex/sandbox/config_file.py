"""Write the sandbox's ``dbplex.toml``: one source per server, named after it.

A PostgreSQL replica is not a source of its own: its URL goes into its primary's ``replicas``.
A Redis Cluster is one source, named after the cluster, with every node as a seed
(``redis+cluster://``, served by dbplex-redis).
"""

from __future__ import annotations

import msgspec

from dbplex.sandbox.records import Sandbox


def _toml(value: object) -> str:
    # a JSON string (or list of strings) is also valid TOML
    return msgspec.json.encode(value).decode()


def write(sandbox: Sandbox) -> None:
    lines = ["# Written by `dbplex sandbox up`; removed by `dbplex sandbox down`.", ""]
    for server in sandbox.servers:
        if server.role != "server":
            continue
        lines += [f"# {server.kind} {server.binary} (pid {server.pid})", f"[sources.{server.name}]"]
        lines.append(f"url = {_toml(server.url)}")
        replicas = sandbox.replicas_of(server.name)
        if replicas:
            lines.append(f"# streaming replicas: {', '.join(r.name for r in replicas)}")
            lines.append(f"replicas = {_toml([r.url for r in replicas])}")
        lines.append("")
    for cluster, nodes in sandbox.clusters().items():
        lines += [f"# Redis Cluster of {', '.join(n.name for n in nodes)} ({nodes[0].binary})", f"[sources.{cluster}]"]
        lines += [f"url = {_toml(sandbox.urls[cluster])}", ""]
    sandbox.config_path.write_text("\n".join(lines))
