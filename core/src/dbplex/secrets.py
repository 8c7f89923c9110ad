"""Keep passwords out of every repr, log line, error and JSON output.

Configuration registers each secret it reads (URL passwords, secret query parameters,
``password`` options) with :func:`remember`; :func:`scrub` replaces any of them in free text,
such as a driver's error message, and masks the credentials of every URL it finds there.

Every function here is linear in the length of its input: :func:`scrub` runs on whole JSON
outputs and on driver messages that may quote megabytes of a caller's data.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterator
from urllib.parse import quote, unquote, urlsplit

import msgspec

from dbplex.logs import quiet_until_configured

# Here rather than in ``dbplex/__init__`` (where importing logging would add to every start-up):
# every module of dbplex or a plugin that logs imports this one, directly or through the hub.
quiet_until_configured("dbplex")

MASK = "***"

#: query parameters whose value is masked when their lower-cased name contains one of these:
#: ``password`` and ``sslpassword`` (libpq), ``password`` and ``ssl_password`` (redis-py),
#: ``tlsCertificateKeyFilePassword`` (pymongo), a bare ``pass``, and any ``secret`` or ``token``.
_SECRET_WORDS = ("pass", "secret", "token")
#: query parameters masked by exact (lower-cased) name: pymongo's ``authMechanismProperties``
#: carries ``AWS_SESSION_TOKEN:...``.
_SECRET_NAMES = frozenset({"authmechanismproperties"})

#: the start of a query parameter, up to its ``=``; a name holds no ``?``, so that a failed
#: match never rescans text a previous attempt covered (linear time).
_PARAM_NAME = re.compile(r"[?&]([^=&#?]*)=")
_VALUE_END = re.compile(r"[&#]")
#: where a URL found in free text ends: whitespace, a quote, an angle bracket, or a backslash
#: (as in JSON's ``\"``: masking must not swallow an escape and break the JSON it scrubs).
_URL_END = re.compile(r"""[\s"'<>`\\]""")

_lock = threading.Lock()
_known: set[str] = set()
#: the remembered secrets, longest first (so a secret that contains another is masked whole).
_ordered: tuple[str, ...] = ()


def remember(secret: str | None) -> None:
    """Register a secret so that :func:`scrub` hides it wherever it appears.

    Its percent-encoded form (as in a URL) and its JSON-escaped form (as in JSON output) are
    registered too.
    """
    global _ordered
    if not secret:
        return
    forms = {secret, quote(secret, safe=""), msgspec.json.encode(secret).decode()[1:-1]}
    with _lock:
        if forms <= _known:
            return
        _known.update(forms)
        _ordered = tuple(sorted(_known, key=len, reverse=True))


def is_secret_parameter(name: str) -> bool:
    """Whether a URL query parameter called ``name`` carries a credential."""
    key = unquote(name).lower()
    return key in _SECRET_NAMES or any(word in key for word in _SECRET_WORDS)


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


def _raw_password(url: str) -> str | None:
    """The userinfo password of ``url`` as written (percent escapes kept), if it has one."""
    unencoded = _unencoded(url)
    if unencoded is not None:
        return unencoded[1]
    try:
        return urlsplit(url).password
    except ValueError:  # a malformed host such as ``[::1`` : fall back to "up to the last @"
        userinfo, at, _ = url.partition("://")[2].rpartition("@")
        _, colon, password = userinfo.partition(":")
        return password if at and colon else None


def password_of(url: str) -> str | None:
    """The password in ``url``'s userinfo, decoded, if it has one."""
    password = _raw_password(url)
    return unquote(password) if password else None


def url_secrets(url: str) -> list[str]:
    """Every credential in ``url``: the userinfo password and each secret query parameter's
    value, both as written and percent-decoded (drivers quote either in their errors)."""
    found = []
    password = _raw_password(url)
    if password:
        found += [password, unquote(password)]
    for start, end in _secret_values(url):
        if end > start:
            found += [url[start:end], unquote(url[start:end])]
    return found


def _secret_values(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each secret query parameter's value in ``text``.

    A value runs to the next ``&`` or ``#``. The values of other parameters are searched too,
    so that ``?next=x?password=y`` still yields ``y``.
    """
    pos = 0
    while (match := _PARAM_NAME.search(text, pos)) is not None:
        pos = match.end()
        if is_secret_parameter(match[1]):
            found = _VALUE_END.search(text, pos)
            end = found.start() if found else len(text)
            yield pos, end
            pos = end


def _mask_parameters(text: str) -> str:
    pieces = []
    done = 0
    for start, end in _secret_values(text):
        pieces += [text[done:start], MASK]
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _redact_after_scheme(rest: str) -> str:
    """``rest`` (a URL less its ``scheme://``) with the userinfo password and secret query
    parameters masked. The userinfo runs to the last ``@``, so that a password holding an
    unencoded ``@``, ``/``, ``?`` or ``#`` is masked whole; this also works on URLs that no
    parser accepts, which is when drivers quote them back."""
    userinfo, at, hosts = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if at and colon:
        rest = f"{user}:{MASK}@{hosts}"
    return _mask_parameters(rest)


def redact_url(url: str) -> str:
    """``url`` with its password and secret query parameters replaced by ``***``; hosts and users stay visible."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _mask_parameters(url)
    return f"{scheme}://{_redact_after_scheme(rest)}"


def scrub(text: str) -> str:
    """``text`` with every remembered secret and every URL credential masked.

    A URL is found by its ``://`` (after a letter or digit) and runs to the next whitespace,
    quote, angle bracket or backslash. URLs are handled one after the other, each from where the last
    ended, so the work grows with the length of ``text``, never with its square.
    """
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" not in text:
        return text
    pieces = []
    done = 0  # text[:done] is already in pieces
    start = text.find("://")
    while start != -1:
        if start == 0 or not text[start - 1].isalnum():
            start = text.find("://", start + 3)
            continue
        end_match = _URL_END.search(text, start + 3)
        end = end_match.start() if end_match else len(text)
        pieces += [text[done : start + 3], _redact_after_scheme(text[start + 3 : end])]
        done = end
        start = text.find("://", end)
    pieces.append(text[done:])
    return "".join(pieces)


class _ScrubbingFilter(logging.Filter):
    """Masks secrets in a record's message, traceback and stack before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info))).rstrip("\n")
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records are scrubbed of secrets: a traceback it logs
    may quote a driver's message, and a message may name a URL."""
    log = logging.getLogger(name)
    if not any(isinstance(f, _ScrubbingFilter) for f in log.filters):
        log.addFilter(_ScrubbingFilter())
    return log
