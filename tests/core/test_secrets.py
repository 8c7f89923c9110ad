"""Passwords are masked in URLs and in any text dbplex shows."""

from __future__ import annotations

import msgspec
import pytest

import dbplex.config
from dbplex import secrets


def test_redact_url_masks_only_the_password() -> None:
    assert secrets.redact_url("postgresql://app:pa55@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert secrets.redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert secrets.redact_url("redis://:only@h:1") == "redis://:***@h:1"


def test_scrub_masks_urls_and_remembered_secrets() -> None:
    secrets.remember("hunter2-x")
    text = "failed: mongodb://u:p%40ss@h/db and the password hunter2-x"
    assert secrets.scrub(text) == "failed: mongodb://u:***@h/db and the password ***"


def test_password_of_decodes_percent_escapes() -> None:
    assert secrets.password_of("postgresql://u:p%40ss@h/db") == "p@ss"
    assert secrets.password_of("postgresql://u@h/db") is None


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://app@host/db?password=S3cret", "postgresql://app@host/db?password=***"),
        (
            "postgresql://app@h/db?sslmode=verify-full&sslpassword=kp",
            "postgresql://app@h/db?sslmode=verify-full&sslpassword=***",
        ),
        ("redis://host/0?username=u&password=p", "redis://host/0?username=u&password=***"),
        ("rediss://host/0?ssl_password=kp&ssl_cert_reqs=none", "rediss://host/0?ssl_password=***&ssl_cert_reqs=none"),
        (
            "mongodb://u:p@h1,h2/db?authSource=admin&tlsCertificateKeyFilePassword=kp",
            "mongodb://u:***@h1,h2/db?authSource=admin&tlsCertificateKeyFilePassword=***",
        ),
        (
            "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok",
            "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=***",
        ),
        ("redis://h/0?next=x?pass=y#frag", "redis://h/0?next=x?pass=***#frag"),
        # malformed: no parser accepts these, drivers quote them back in their errors
        ("postgresql://app@[::1/appdb?password=S3c%ret", "postgresql://app@[::1/appdb?password=***"),
        ("mongodb://u:p4ss@[::1/x", "mongodb://u:***@[::1/x"),
    ],
)
def test_redact_url_masks_credentials_in_the_query_string(url: str, redacted: str) -> None:
    assert secrets.redact_url(url) == redacted
    assert secrets.scrub(f'error: "{url}" was refused') == f'error: "{redacted}" was refused'


def test_query_string_secrets_are_remembered_by_the_configuration() -> None:
    """libpq quotes a token with a stray % bare, outside any URL: only remembering it masks it."""
    password = "S3c%ret-4b1d"
    dbplex.config.from_dict({"sources": {"pg": {"url": f"postgresql://app@h/db?password={password}"}}})
    assert secrets.scrub(f'invalid percent-encoded token: "{password}"') == 'invalid percent-encoded token: "***"'
    assert secrets.url_secrets(f"redis://:a%40b@h/0?password={password}") == ["a%40b", "a@b", password, password]


def test_a_remembered_secret_is_masked_in_json_output() -> None:
    secrets.remember('q"uo\\te-77')
    text = msgspec.json.encode({"error": 'login with q"uo\\te-77 failed'}).decode()
    assert msgspec.json.decode(secrets.scrub(text)) == {"error": "login with *** failed"}


def test_masking_keeps_json_valid_when_a_url_ends_in_an_escape() -> None:
    text = msgspec.json.encode({"error": 'in URI: "postgresql://a@[::1/d?password=zz"\n'}).decode()
    assert msgspec.json.decode(secrets.scrub(text)) == {"error": 'in URI: "postgresql://a@[::1/d?password=***"\n'}


def test_scrub_handles_ten_megabytes() -> None:
    """Correctness on a 10 MB input; its speed is measured by benchmarks/scrub.py, not here."""
    letters = "x" * 10_000_000
    assert secrets.scrub(letters) == letters
    words = "a://b " * 1_000_000
    assert secrets.scrub(words) == words
    text = f"redis://u:pw@h/0 {letters} postgresql://app@h/db?password=p2 " + "c://" + "d" * 10_000_000
    assert (
        secrets.scrub(text)
        == f"redis://u:***@h/0 {letters} postgresql://app@h/db?password=*** " + "c://" + "d" * 10_000_000
    )


def test_log_records_are_scrubbed_with_their_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    secrets.remember("log-Secret-31")
    log = secrets.logger("dbplex.test_secrets")
    try:
        raise ValueError("driver said: bad password log-Secret-31 for redis://u:other-pw@h/0")
    except ValueError:
        log.exception("failed with %s", "log-Secret-31")
    assert "failed with ***" in caplog.text and "ValueError: driver said: bad password ***" in caplog.text
    assert "log-Secret-31" not in caplog.text and "other-pw" not in caplog.text
