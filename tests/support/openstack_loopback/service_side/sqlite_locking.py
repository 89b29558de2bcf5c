# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the services' sqlite databases take concurrent builds without "database is locked".

oslo.db opens sqlite transactions with a plain (deferred) BEGIN. Two threads that both read
and then write deadlock on the upgrade to a write lock, and sqlite answers SQLITE_BUSY at once,
without waiting: a fleet created at once fails some of its servers. Starting every transaction
with BEGIN IMMEDIATE takes the write lock up front, so transactions queue instead, and
busy_timeout lets them wait for it; WAL lets readers outside a transaction go on meanwhile.

Call ``install()`` before any engine is created (the launcher does).
"""

import sqlite3

import sqlalchemy
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 60000
# oslo.db's own marker for "BEGIN already sent" (oslo_db.sqlalchemy.engines): set it, and
# oslo.db's listener sends no second BEGIN; it clears the marker on commit and rollback.
_MARKER = "in_transaction"


def install():
    """Listen on every sqlite Engine this process will create."""
    for event, listener in (("connect", _on_connect), ("begin", _on_begin), ("commit", _on_end), ("rollback", _on_end)):
        if not sqlalchemy.event.contains(Engine, event, listener):
            sqlalchemy.event.listen(Engine, event, listener)


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
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.info[_MARKER] = True


def _on_end(connection):
    connection.info.pop(_MARKER, None)
