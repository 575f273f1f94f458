"""Migrations: recorded, idempotent, and the published functions answer in psql as they do over HTTP."""

import psycopg

from scripts.migrate import apply_ours, versioned_files


def test_every_versioned_migration_is_recorded(db):
    recorded = {r[0] for r in db.execute("SELECT version FROM data.migrations")}
    assert {v for v, _, _ in versioned_files()} <= recorded
    assert "src" in recorded


def test_migrate_again_is_a_no_op(database_url):
    assert apply_ours(database_url) == []


def test_pgstac_is_installed_at_the_pinned_version(db):
    from scripts.migrate import PGSTAC_VERSION

    assert db.execute("SELECT pgstac.get_version()").fetchone()[0] == PGSTAC_VERSION


def test_anonymous_role_reads_but_cannot_write(db):
    with db.transaction():
        db.execute("SET LOCAL ROLE stapi_anon")
        assert db.execute("SELECT api.landing() ->> 'type'").fetchone()[0] == "Catalog"
        try:
            db.execute("SELECT libs.require_writer()")
            raised = None
        except psycopg.Error as e:
            raised = e.sqlstate
        assert raised == "42501"
        raise psycopg.Rollback()
