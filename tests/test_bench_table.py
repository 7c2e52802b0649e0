"""The README's performance table is the one `python -m bench.run --table` renders from the
saved bench run, bench/last-run.json: the figures in the README are that run's."""

import json
from pathlib import Path

from bench.verdicts import table

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_shows_the_table_of_the_saved_bench_run():
    result = json.loads((ROOT / "bench" / "last-run.json").read_text())
    rendered = table(result)
    assert rendered in (ROOT / "README.md").read_text(), (
        "README's performance table differs from `python -m bench.run --table "
        "bench/last-run.json`: paste that output into the README"
    )


def test_every_target_of_the_saved_run_has_a_verdict():
    result = json.loads((ROOT / "bench" / "last-run.json").read_text())
    figures = {row["figure"] for row in result["targets"]}
    if "import_with_credit" in result:  # measured by runs since issue 13 (contributions)
        figures.remove("import_with_credit_to_copy_ratio")
    assert figures == {
        "claims_submit_ratio",
        "claims_submit_p99_ms",
        "coverage_ratio",
        "import_rows_per_second",
        "import_to_copy_ratio",
        "report_p50_ms",
        "engine_assessments_per_second",
    }
    assert all(row["pass"] is not None for row in result["targets"]), result["targets"]
