"""Keep passwords out of every repr, log line, error and JSON output.

Configuration registers each secret it reads (URL passwords, ``password`` options) with
:func:`remember`; :func:`scrub` replaces any of them in free text, such as a driver's
error message, before dbplex shows it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "***"
_known: set[str] = set()
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@", re.I)


def remember(secret: str | None) -> None:
    """Register a secret so that :func:`scrub` hides it wherever it appears."""
    if secret:
        _known.add(secret)
        _known.add(quote(secret, safe=""))


def _unencoded(url: str) -> tuple[str, str, str] | None:
    """``(scheme://user, password, @rest)`` when the password holds an unencoded ``/``, ``?`` or ``#``.

    A URL parser ends the host part at such a character, so the password would be read as a
    host and a path. Here the userinfo runs to the last ``@`` instead (over-redacting, rather
    than showing a password, when an ``@`` in the query string is what it found).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo, _, hosts = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not colon or not any(c in userinfo for c in "/?#"):
        return None
    return f"{scheme}://{user}", password, f"@{hosts}"


def password_of(url: str) -> str | None:
    """The password in ``url``'s userinfo, decoded, if it has one."""
    unencoded = _unencoded(url)
    if unencoded is not None:
        return unquote(unencoded[1]) or None
    try:
        pw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(pw) if pw else None


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``; hosts and users stay visible."""
    unencoded = _unencoded(url)
    if unencoded is not None:
        return f"{unencoded[0]}:{MASK}{unencoded[2]}"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str) -> str:
    """``text`` with every URL password and every remembered secret masked."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
