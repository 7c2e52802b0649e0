"""Every dependency of the project's routes is a coroutine: FastAPI runs a plain `def`
dependency in its thread pool, a hop that cost more than the work of the dependencies
themselves on the claims path (README: performance)."""

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from claims_api.app import create_app as create_claims_app
from members_api.app import create_app as create_members_app

OWN_PACKAGES = ("services.", "claims_api.", "members_api.")


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def own_dependencies(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        call = sub.call
        if getattr(call, "__module__", "").startswith(OWN_PACKAGES):
            yield call
        yield from own_dependencies(sub)


@pytest.mark.parametrize("create_app", [create_members_app, create_claims_app])
def test_every_dependency_of_every_route_is_async(create_app):
    routes = list(api_routes(create_app().router.routes))
    assert len(routes) > 10
    checked = set()
    for route in routes:
        for call in own_dependencies(route.dependant):
            checked.add(call)
            assert inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call), (
                f"{call.__module__}.{call.__qualname__} (a dependency of {route.path}) is a "
                "plain def: make it async def"
            )
    names = {call.__name__ for call in checked}
    assert {"_principal", "_request_session"} <= names, names
