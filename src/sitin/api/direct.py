"""Routes whose endpoint is called directly, for the hottest reads (GET a bot, the list, the
transcript).

FastAPI solves a route's dependencies and validates each parameter through pydantic on every
request; for a route of plain string parameters that cost more than the database read of one
bot. A ``DirectRoute`` does the same work by hand: it runs the router's checks (async functions
of the request), passes the request, the path parameters and the query parameters (``str | None``
or ``list[str]``, as FastAPI reads them: the last value, or all of them) and awaits the endpoint,
which returns its ``Response`` itself (there is no response model to render).
The route is an ordinary ``APIRoute`` otherwise (the same schema, error handlers, middleware),
and one whose endpoint needs anything else is refused when the app is built.
"""

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, get_args

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        problem = _unsupported(dependant)
        if problem is not None:
            raise TypeError(f"{self.path}: {problem}; use an ordinary route")
        checks = [dependency.call for dependency in dependant.dependencies]
        request_name = dependant.request_param_name
        path_names = [field.name for field in dependant.path_params]
        query = [
            (field.name, field.alias, _is_list(field.field_info.annotation))
            for field in dependant.query_params
        ]
        endpoint = dependant.call

        async def handler(request: Request) -> Response:
            for check in checks:
                await check(request)
            arguments: dict[str, Any] = {request_name: request} if request_name else {}
            path = request.path_params
            for name in path_names:
                arguments[name] = path[name]
            if query:
                params = request.query_params
                for name, alias, many in query:
                    arguments[name] = params.getlist(alias) if many else params.get(alias)
            return await endpoint(**arguments)

        return handler


def _unsupported(dependant) -> str | None:
    """Why the endpoint cannot be called directly, or None."""
    if not inspect.iscoroutinefunction(dependant.call):
        return "the endpoint is not async"
    if dependant.header_params or dependant.cookie_params or dependant.body_params:
        return "the endpoint takes headers, cookies or a body"
    for dependency in dependant.dependencies:
        if not inspect.iscoroutinefunction(dependency.call):
            return f"dependency {dependency.call} is not async"
        own = (
            dependency.dependencies,
            dependency.path_params,
            dependency.query_params,
            dependency.header_params,
            dependency.cookie_params,
            dependency.body_params,
        )
        if any(own) or dependency.request_param_name is None:
            return f"dependency {dependency.call} takes more than the request"
    for field in dependant.path_params:
        if field.field_info.annotation is not str:
            return f"path parameter {field.name} is not a str"
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if _is_list(annotation):
            if field.field_info.default != []:
                return f"query parameter {field.name} does not default to []"
        elif annotation != str | None or field.field_info.default is not None:
            return f"query parameter {field.name} is not a str defaulting to None"
    return None


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list and get_args(annotation) == (str,)
