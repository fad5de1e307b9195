"""``errors.is_transient``: the one retry-or-dead-letter decision, for hexlake and driver errors."""

from __future__ import annotations

import sqlite3

import duckdb
import psycopg
import pytest
import redis

from hexlake.errors import (
    BadRequest,
    HexlakeError,
    LogError,
    SchemaError,
    ServiceUnavailable,
    TransformBusy,
    TransformError,
    WarehouseError,
    is_transient,
)


@pytest.mark.parametrize("exc", [
    LogError("log down"), WarehouseError("busy"), TransformBusy("another process runs it"),
    ServiceUnavailable("restarting"),
    ConnectionResetError("peer"), TimeoutError("slow"),
    psycopg.OperationalError("server closed the connection"),
    psycopg.errors.SerializationFailure("could not serialize"),
    redis.ConnectionError("refused"), redis.TimeoutError("timeout"),
    duckdb.IOException("could not set lock"), duckdb.TransactionException("conflict"),
    sqlite3.OperationalError("database is locked"),
], ids=lambda e: type(e).__name__)
def test_retryable_failures_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    SchemaError("bad schema"), TransformError("audit failed"), BadRequest("field x"),
    ValueError("bad payload"), KeyError("missing"), TypeError("bug"),
    sqlite3.OperationalError("no such table: foo"), duckdb.CatalogException("no table"),
    psycopg.errors.UndefinedTable("no table"), redis.ResponseError("WRONGTYPE"),
], ids=lambda e: type(e).__name__)
def test_bad_data_and_bugs_are_terminal(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_an_unmarked_error_inherits_the_nature_of_its_cause() -> None:
    def wrap(cause: BaseException) -> HexlakeError:
        try:
            raise HexlakeError("wrapped") from cause
        except HexlakeError as exc:
            return exc

    assert is_transient(wrap(redis.ConnectionError("refused")))
    assert not is_transient(wrap(ValueError("bad")))


def test_a_terminal_wrapper_wins_over_a_transient_cause() -> None:
    try:
        raise SchemaError("refused for good") from ConnectionError("flaky")
    except SchemaError as exc:
        assert not is_transient(exc)


def test_a_cycle_of_causes_terminates() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert not is_transient(a)


@pytest.mark.parametrize("text, shown", [
    ("cannot connect to the source 'postgresql://etl:S3cr%40t@db:5432/app'",
     "cannot connect to the source 'postgresql://etl:***@db:5432/app'"),
    ("mysql://root:p:a:ss@10.0.0.5/app and nats://u:tok@nats:4222", "mysql://root:***@10.0.0.5/app and nats://u:***@nats:4222"),
    ("postgresql+psycopg://a:b@h/db#table_prefix=x", "postgresql+psycopg://a:***@h/db#table_prefix=x"),
    ("host=db user=etl password=hunter2 dbname=app", "host=db user=etl password=*** dbname=app"),
    ("password = 'two words'", "password = ***"),
    ("postgresql://etl@db/app, https://example.com/a:b@c and 'user:x@y' stay", None),
])
def test_error_messages_never_carry_a_password(text: str, shown: str | None) -> None:
    """Messages quote source, log and warehouse URLs (and drivers' errors): every HexlakeError hides
    their passwords, whoever reads the message (CLI, API body, logs, run history, webhooks)."""
    from hexlake.errors import ConfigError, redact_secrets

    assert redact_secrets(text) == (shown or text)
    assert ConfigError(text).message == str(ConfigError(text)) == (shown or text)
