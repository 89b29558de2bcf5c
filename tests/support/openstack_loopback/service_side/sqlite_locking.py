# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the services' sqlite databases take concurrent builds without "database is locked".

oslo.db opens sqlite transactions with a plain (deferred) BEGIN. Two threads that both read
and then write deadlock on the upgrade to a write lock, and sqlite answers SQLITE_BUSY at once,
without waiting: a fleet created at once fails some of its servers. Starting every transaction
with BEGIN IMMEDIATE takes the write lock up front, so transactions queue instead, and
busy_timeout lets them wait for it; WAL lets readers outside a transaction go on meanwhile.

A transaction a thread opens while it holds the write lock itself cannot take it: Placement, when
two allocation writes race (a fleet scheduled at once), re-reads the provider in an "independent"
transaction inside its write transaction. With BEGIN IMMEDIATE it waited for its own thread until
"database is locked". Such a nested transaction of the same thread and database begins deferred: it
only reads, and in WAL mode a reader needs no lock. What is left of "database is locked" is what
MySQL calls a deadlock: oslo.db's DBDeadlock, which the services retry
(``wrap_db_retry(retry_on_deadlock=True)``).

Call ``install()`` before any engine is created (the launcher does).
"""

import sqlite3
import threading

import sqlalchemy
from sqlalchemy import exc as sqla_exc
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 60000
# oslo.db's own marker for "BEGIN already sent" (oslo_db.sqlalchemy.engines): set it, and
# oslo.db's listener sends no second BEGIN; it clears the marker on commit and rollback.
_MARKER = "in_transaction"
_HOLDER = "slipway_write_lock"
# per thread: the database files whose write lock the thread holds (in a transaction begun IMMEDIATE)
_THREAD = threading.local()


def _held():
    if not hasattr(_THREAD, "databases"):
        _THREAD.databases = set()
    return _THREAD.databases


def install():
    """Listen on every sqlite Engine this process will create; "database is locked" is a deadlock."""
    for event, listener in (("connect", _on_connect), ("begin", _on_begin), ("commit", _on_end), ("rollback", _on_end)):
        if not sqlalchemy.event.contains(Engine, event, listener):
            sqlalchemy.event.listen(Engine, event, listener)
    from oslo_db.sqlalchemy import exc_filters

    registered = exc_filters._registry["sqlite"][sqla_exc.OperationalError]  # pylint: disable=protected-access
    if not any(pattern.pattern == _LOCKED for _fn, pattern in registered):
        exc_filters.filters("sqlite", sqla_exc.OperationalError, _LOCKED)(_locked_is_a_deadlock)


_LOCKED = r"^.*database is locked.*"


def _locked_is_a_deadlock(operational_error, _match, _engine_name, _is_disconnect):
    from oslo_db import exception

    raise exception.DBDeadlock(operational_error)


def _on_connect(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
        dbapi_connection.execute("PRAGMA journal_mode = WAL")


def _on_begin(connection):
    dbapi_connection = connection.connection.dbapi_connection
    # isolation_level None: pysqlite sends no BEGIN of its own (oslo.db's engines); leave
    # other engines (plain create_engine) to pysqlite.
    if (isinstance(dbapi_connection, sqlite3.Connection) and dbapi_connection.isolation_level is None
            and _MARKER not in connection.info):
        database = connection.engine.url.database
        if database in _held():
            dbapi_connection.execute("BEGIN")         # nested in this thread's own write transaction: a reader
        else:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            _held().add(database)
            connection.info[_HOLDER] = database
        connection.info[_MARKER] = True


def _on_end(connection):
    connection.info.pop(_MARKER, None)
    database = connection.info.pop(_HOLDER, None)
    if database is not None:
        _held().discard(database)
