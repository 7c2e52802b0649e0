"""The schema only ever comes from Alembic: each history upgrades from empty to head, comes
all the way down again, and goes back up, on SQLite and on Postgres; and head matches the
models, so no change to a table was left without its migration."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.kit.database import make_engine
from services.kit.migrate import downgrade, upgrade
from tests.databases import postgres_database


def _metadata(service: str):
    if service == "members":
        from members_api.models import metadata
    else:
        from claims_api.models import metadata
    return metadata


async def _url(backend: str, service: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / f'{service}-migrations.db'}"
    return await postgres_database(service, suffix="_migrations")


def _tables(connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("service", ["members", "claims"])
async def test_history_goes_up_down_and_up_again(backend: str, service: str, tmp_path: Path):
    engine = make_engine(await _url(backend, service, tmp_path))
    expected = set(_metadata(service).tables)
    version_table = f"{service}_alembic_version"
    try:
        await upgrade(engine, service)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == expected | {version_table}
        await downgrade(engine, service, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == {version_table}
        await upgrade(engine, service)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == expected | {version_table}
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": False}),
                    _metadata(service),
                )
            )
        unexplained = [
            diff
            for diff in differences
            if not (diff[0] == "remove_table" and diff[1].name == version_table)
        ]
        assert unexplained == []
    finally:
        await engine.dispose()


async def test_payments_made_before_the_bank_files_get_their_lines_and_status(
    backend: str, tmp_path: Path
):
    """0005_bank_files: an existing payment is `sent`, or `returned` if it was reversed, and
    numbered among its batch's payments in id order; a reversal has no bank status."""
    from sqlalchemy import text

    engine = make_engine(await _url(backend, "claims", tmp_path))
    claim = (
        "INSERT INTO claim (id, member_id, plan_code, kind, status, event_on, end_on, filed_on, "
        "facts, original_facts, payable, assessment, reason_codes, terms_snapshot, "
        "rules_version, submitted_by, created_at, updated_at) VALUES (:id, 'mbr_1', 'MED-2026', "
        "'hospital_reimbursement', 'paid', '2026-03-01', '2026-03-05', '2026-03-06', '{}', '{}', "
        "400000, '{}', '[]', '{}', 'v1', 'admin', '2026-03-06T00:00:00Z', "
        "'2026-03-06T00:00:00Z')"
    )
    entry = (
        "INSERT INTO payout_entry (id, batch_id, claim_id, entry_kind, amount, reverses_entry_id, "
        "plan_code, member_id, paid_on, created_by, created_at) VALUES (:id, 'pay_1', :claim, "
        ":kind, :amount, :reverses, 'MED-2026', 'mbr_1', '2026-03-07', 'finance', "
        "'2026-03-07T00:00:00Z')"
    )
    try:
        await downgrade(engine, "claims", "base")
        await upgrade(engine, "claims", "0004_report_indexes")
        async with engine.begin() as connection:
            for claim_id in ("clm_a", "clm_b"):
                await connection.execute(text(claim), {"id": claim_id})
            await connection.execute(
                text(
                    "INSERT INTO payout_batch (id, paid_on, reference, created_by, created_at) "
                    "VALUES ('pay_1', '2026-03-07', 'B-1', 'finance', '2026-03-07T00:00:00Z')"
                )
            )
            for values in (
                {"id": "ple_1", "claim": "clm_a", "kind": "payment", "amount": 400000},
                {"id": "ple_2", "claim": "clm_b", "kind": "payment", "amount": 400000},
                {"id": "ple_3", "claim": "clm_a", "kind": "reversal", "amount": -400000},
            ):
                reverses = "ple_1" if values["kind"] == "reversal" else None
                await connection.execute(text(entry), {**values, "reverses": reverses})
        await upgrade(engine, "claims")
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, bank_line, bank_status FROM payout_entry ORDER BY id")
            )
            assert [tuple(row) for row in rows] == [
                ("ple_1", 1, "returned"),
                ("ple_2", 2, "sent"),
                ("ple_3", None, None),
            ]
    finally:
        await engine.dispose()
