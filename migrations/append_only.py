"""Append-only tables on Postgres: a trigger refuses every UPDATE and DELETE, so not even a
bug or a hand-typed statement can rewrite history. (SQLite, the zero-set-up default, is not
where an audit is kept.)"""

from alembic import op

FUNCTION = """
CREATE OR REPLACE FUNCTION mutualaid_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def protect(*tables: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    for table in tables:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION mutualaid_refuse_change()"
        )


def unprotect(*tables: str, keep_function: bool = False) -> None:
    """`keep_function`: other tables protected by an earlier revision still use it."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    if not keep_function:
        op.execute("DROP FUNCTION IF EXISTS mutualaid_refuse_change()")
