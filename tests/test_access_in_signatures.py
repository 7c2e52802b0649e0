"""Who may call a route is in its signature (services.kit.access), and agrees with the
authorisation matrix's rules (tests/access_rules.py): the roles a route's signature lets
through are those the matrix does not refuse with 403 on every record they may see."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from claims_api.app import create_app as create_claims_app
from members_api.app import create_app as create_members_app
from services.kit.auth import _principal
from tests.access_rules import FORBIDDEN, PUBLIC, ROLES, RULES, Scoped
from tests.test_dependencies import api_routes

APPS = {"members": create_members_app, "claims": create_claims_app}


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _signature_roles(route: APIRoute) -> set[str] | None:
    """The roles the route's own parameters let through; None when it takes no token."""
    direct = [sub.call for sub in route.dependant.dependencies]
    named = [set(call.roles) for call in direct if hasattr(call, "roles")]
    if named:
        return set.intersection(*named)
    if _principal in direct:
        return set(ROLES)  # `Anyone`: the service's scope rule decides what each sees
    assert _principal not in _calls(route.dependant), f"{route.path}: a role rule out of sight"
    return None


def _allowed_by_rule(expect: dict[str, Any]) -> set[str]:
    refused = {FORBIDDEN, Scoped(FORBIDDEN, 404)}
    return {role for role, value in expect.items() if value not in refused}


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_route_names_the_roles_the_matrix_lets_through(service):
    checked = 0
    for route in api_routes(APPS[service]().router.routes):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            key = (service, method, route.path)
            roles = _signature_roles(route)
            if key in PUBLIC:
                assert roles is None, key
                continue
            assert roles == _allowed_by_rule(RULES[key].expect), key
            checked += 1
    assert checked == sum(1 for rule_key in RULES if rule_key[0] == service)
