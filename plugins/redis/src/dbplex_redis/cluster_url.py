"""Pure parsing of ``redis+cluster://[user:password@]host:port,host:port,...[/0][?options]``.

redis-py takes one seed per URL, so the seeds are split here, and the first one becomes a
plain ``redis://`` (or ``rediss://``) URL carrying the credentials and options, for redis-py's
own URL parser to read exactly as it reads a single server's.

The userinfo runs to the **last** ``@`` of the URL, so that a password with an unencoded ``/``,
``?``, ``#`` or ``@`` is still the password (and an ``@`` in the query string must be written
``%40``). No error message ever contains any part of the userinfo: seeds are named by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

#: the plain scheme behind each cluster scheme.
SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
DEFAULT_PORT = 6379


@dataclass(frozen=True)
class ClusterUrl:
    #: every seed node, ``(host, port)``, in the order given.
    seeds: tuple[tuple[str, int], ...]
    #: the first seed as a single-server URL with the cluster URL's credentials, path and query.
    first: str
    #: the password as written in the URL (percent-encoded or not), or None.
    password: str | None = field(default=None, compare=False, repr=False)


def _ordinal(number: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(number, f"{number}th")


def _seed(text: str, number: int) -> tuple[str, int]:
    if text.startswith("["):  # IPv6: [::1]:7000
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if not rest else "?")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, ""
    if not host:
        raise ValueError(f"the {_ordinal(number)} seed has no host; write host:port")
    if not port:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"the {_ordinal(number)} seed has no valid port; write host:port with a port from 1 to 65535")
    return host, int(port)


def netloc(host: str, port: int) -> str:
    """``host:port`` as a URL writes it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse(url: str) -> ClusterUrl:
    """The seeds and first-seed URL of a cluster URL; ValueError naming what is wrong (never the password)."""
    scheme, sep, rest = url.partition("://")
    plain = SCHEMES.get(scheme.lower())
    if not sep or plain is None:
        raise ValueError(f"expected a URL starting {' or '.join(s + '://' for s in SCHEMES)}")
    # The userinfo first, up to the last "@": a password may hold an unencoded "/", "?" or "#".
    userinfo, at, after = rest.rpartition("@")
    end = min((i for i in (after.find("/"), after.find("?"), after.find("#")) if i >= 0), default=len(after))
    hosts, tail = after[:end], after[end:]
    if not hosts:
        raise ValueError("the URL names no seed node; write host:port[,host:port...]")
    seeds = tuple(_seed(part.strip(), number) for number, part in enumerate(hosts.split(","), 1))
    path = tail.partition("?")[0].partition("#")[0]
    if path not in ("", "/", "/0"):
        raise ValueError(f"a Redis Cluster has only database 0; remove {path!r} from the URL")
    user, colon, password = userinfo.partition(":")
    # Encoded for redis-py's URL parser (which decodes both); escapes already there stay as they are.
    credentials = f"{quote(user, safe='%')}{colon}{quote(password, safe='%')}{at}"
    host, port = seeds[0]
    return ClusterUrl(
        seeds=seeds,
        first=f"{plain}://{credentials}{netloc(host, port)}{tail}",
        password=password if colon and password else None,
    )
