"""The payout engine alone: assessments per second on one core, for a realistic mix of the
three plan kinds (80% hospital stays, 10% fixed benefits, 10% daily allowances), beside the
frozen oracle (tests/claims/engine_reference.py) on the same cases in the same run. Prints one
JSON object. Run: python -m bench.engine [--count 20000] [--rounds 5]

Absolute rates swing by a factor of three between runs on a shared machine; the ratio of the
engine to the oracle, measured round by round in one process, much less.
"""

import argparse
import json
import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from claims_api.engine import DailyFacts, FixedFacts, HospitalFacts, Usage, assess
from services.kit.plan_rules import EnrollmentCover, PlanTerms
from services.stack.demo import med_plan, women_plan
from tests.claims.engine_reference import reference_assess


def _terms(plan: dict) -> PlanTerms:
    return PlanTerms.model_validate(
        {k: v for k, v in plan.items() if k not in ("code", "line", "name")}
    )


DAILY = PlanTerms.model_validate(
    {
        **{
            k: v
            for k, v in med_plan().items()
            if k not in ("code", "line", "name", "benefit", "kind")
        },
        "kind": "daily_allowance",
        "benefit": {
            "kind": "daily_allowance",
            "amount_per_day_per_share": "50",
            "from_day": 4,
            "max_days_per_stay": 30,
            "term_cap_per_share": "3000",
        },
    }
)


FILED_ON = date(2024, 1, 15)


def cases(count: int, rng: random.Random) -> list[tuple]:
    med, women = _terms(med_plan()), _terms(women_plan())
    cover = EnrollmentCover(
        enrollment_id="enr_1",
        member_id="mbr_1",
        unit_id="unt_1",
        plan_code="MED-2023",
        shares=2,
        starts_on=date(2023, 1, 1),
        ends_on=date(2023, 12, 31),
        waiting_ends_on=date(2023, 1, 30),
        reduced_ends_on=None,
    )
    usage = Usage(used=Decimal("1200.00"), claims_count=1)
    built = []
    for index in range(count):
        admitted = date(2023, 2, 1) + timedelta(days=rng.randrange(0, 300))
        kind = index % 10
        if kind < 8:
            oop = Decimal(rng.randrange(50_000, 2_000_000)) / 100
            facts = HospitalFacts(
                admitted_on=admitted,
                discharged_on=admitted + timedelta(days=5),
                hospital="H",
                diagnosis_codes=["J18.9"],
                invoice_numbers=[f"I{index}"],
                total_cost=oop * 3,
                insurance_paid=oop * 2,
                out_of_pocket_in_policy=oop,
                self_pay=Decimal("0"),
            )
            built.append((med, cover, facts, usage))
        elif kind == 8:
            facts = FixedFacts(
                diagnosed_on=admitted,
                diagnosis_code="C50.9",
                hospital="H",
                pathology_report_no="P1",
            )
            built.append((women, cover, facts, Usage()))
        else:
            facts = DailyFacts(
                admitted_on=admitted,
                discharged_on=admitted + timedelta(days=9),
                hospital="H",
                diagnosis_codes=["J18.9"],
                invoice_numbers=[f"D{index}"],
            )
            built.append((DAILY, cover, facts, usage))
    return built


def _round(assessor: Callable[..., object], work: list[tuple]) -> tuple[float, float]:
    """One pass over the cases: (wall seconds, CPU seconds)."""
    filed = FILED_ON
    started, cpu_started = time.perf_counter(), time.process_time()
    for terms, cover, facts, usage in work:
        assessor(terms, cover, facts, usage, filed_on=filed, rules_version="bench")
    return time.perf_counter() - started, time.process_time() - cpu_started


def measure(count: int = 20_000, rounds: int = 5) -> dict[str, float | int]:
    """Assess `count` claims `rounds` times with the engine and with the oracle, alternately,
    after a warm-up; the best round of each counts (a noisy machine only ever slows a round
    down). "cpu" rates divide by the process's CPU time: one core's throughput even while other
    processes share the machine."""
    work = cases(count, random.Random(1))
    for assessor in (assess, reference_assess):
        _round(assessor, work[:500])  # warm up
    best = {"engine": [float("inf")] * 2, "oracle": [float("inf")] * 2}
    for _ in range(rounds):
        for name, assessor in (("engine", assess), ("oracle", reference_assess)):
            wall, cpu = _round(assessor, work)
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    result: dict[str, float | int] = {"engine_assessments": count, "engine_rounds": rounds}
    for name, (wall, cpu) in best.items():
        result |= {
            f"{name}_seconds": round(wall, 3),
            f"{name}_assessments_per_second": round(count / wall),
            f"{name}_cpu_seconds": round(cpu, 3),
            f"{name}_assessments_per_cpu_second": round(count / cpu),
        }
    result["engine_to_oracle_ratio"] = round(best["oracle"][1] / best["engine"][1], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.count, args.rounds)))


if __name__ == "__main__":
    main()
