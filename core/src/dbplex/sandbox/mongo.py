"""MongoDB: ``mongod`` on PATH, else ``nx-27017``, a MongoDB wire-protocol server on SQLite from PyPI.

No MongoDB server installs from PyPI or Debian, so the stand-in is the usual case; it lacks
change streams, ``$jsonSchema`` enforcement, transactions and sharding, and the record's ``kind``
says which one runs so that tests can skip those features.
"""

from __future__ import annotations

import shutil
import signal
import socket
import struct
import sys
from pathlib import Path

from dbplex.sandbox import process
from dbplex.sandbox.engine import Engine
from dbplex.sandbox.errors import SandboxError
from dbplex.sandbox.records import Server

_OP_MSG = 2013


def binary() -> tuple[Path, str]:
    """The server to run and its kind; nx-27017 is also looked for next to this Python (unactivated venv)."""
    found = shutil.which("mongod")
    if found is not None:
        return Path(found), "mongod"
    found = shutil.which("nx-27017") or shutil.which("nx-27017", path=str(Path(sys.executable).parent))
    if found is not None:
        return Path(found), "nx-27017"
    raise SandboxError("no MongoDB server found: put mongod on PATH, or pip install nx-27017 (or dbplex[sandbox])")


def launch(name: str, home: Path, port: int) -> Server:
    path, kind = binary()
    log = home / f"{kind}.log"
    if kind == "mongod":
        data = home / "data"
        data.mkdir()
        argv = [str(path), "--bind_ip", "127.0.0.1", "--port", str(port), "--dbpath", str(data), "--nounixsocket"]
    else:
        # one SQLite file per logical database, so databases are as separate as on mongod
        argv = [str(path), "--host", "127.0.0.1", "-p", str(port), "--data-dir", str(home / "data")]
        argv += ["--log-file", str(log), "--pid-file", str(home / "nx.pid")]
    pid, started = process.spawn(argv, log=log, cwd=home)
    return Server(
        name=name,
        engine="mongo",
        kind=kind,
        port=port,
        pid=pid,
        started=started,
        url=f"mongodb://127.0.0.1:{port}/dbplex",
        binary=path,
        log=log,
        home=home,
    )


def _ping_message() -> bytes:
    """``{ping: 1, $db: "admin"}`` as an OP_MSG, encoded by hand: the core does not depend on pymongo."""
    elements = b"\x10ping\x00" + struct.pack("<i", 1) + b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    document = struct.pack("<i", 4 + len(elements) + 1) + elements + b"\x00"
    body = struct.pack("<I", 0) + b"\x00" + document
    return struct.pack("<iiii", 16 + len(body), 1, 0, _OP_MSG) + body


#: ``ok: 1`` in a reply, as a double (mongod) or an int32 (nx-27017).
_OK = (b"\x01ok\x00" + struct.pack("<d", 1.0), b"\x10ok\x00" + struct.pack("<i", 1))


def ready(server: Server) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
            sock.sendall(_ping_message())
            reply = sock.recv(4096)
    except OSError:
        return False
    return len(reply) > 16 and struct.unpack_from("<i", reply, 12)[0] == _OP_MSG and any(ok in reply for ok in _OK)


ENGINE = Engine(launch=launch, ready=ready, stop_signal=signal.SIGTERM)
