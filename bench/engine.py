"""The payout engine alone: assessments per second on one core, for a realistic mix of the
three plan kinds. Prints one JSON object. Run: python -m bench.engine"""

import json
import random
import time
from datetime import date, timedelta
from decimal import Decimal

from claims_api.engine import DailyFacts, FixedFacts, HospitalFacts, Usage, assess
from services.demo import med_plan, women_plan
from services.plan_rules import EnrollmentCover, PlanTerms


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


def main() -> None:
    work = cases(20_000, random.Random(1))
    filed = date(2024, 1, 15)
    for terms, cover, facts, usage in work[:500]:  # warm up
        assess(terms, cover, facts, usage, filed_on=filed, rules_version="bench")
    started = time.perf_counter()
    for terms, cover, facts, usage in work:
        assess(terms, cover, facts, usage, filed_on=filed, rules_version="bench")
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "engine_assessments": len(work),
                "engine_seconds": round(seconds, 3),
                "engine_assessments_per_second": round(len(work) / seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
