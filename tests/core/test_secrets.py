"""Passwords are masked in URLs and in any text dbplex shows."""

from __future__ import annotations

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
