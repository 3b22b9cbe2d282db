"""What the plugin's pages (Sent, Library, Compose) share: an app behind Airflow's login, the store, the
user's read rights, the chosen account, Beijing times, and Airflow's REST API called as the user.

Each page app is made by ``page_app``: every route needs an Airflow login (the UI's session cookie or a Bearer
token); a browser without one asking for a page is sent to the auth manager's login and back, anything else
gets 401; a bad query parameter gets 400 naming it; a store that is not ready gets 503 saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.clock import SHANGHAI
from ..store.db import SchemaMismatch, StoreNotConfigured, engine_for
from .accounts import account_names
from .hook import WeChatHook, ready_store
from .run_states import AirflowApi

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def _authenticated():
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def page_app(title: str, prefix: str) -> FastAPI:
    """A page app mounted at ``prefix`` (as wechat_plugin.py mounts it)."""
    # No schema or docs routes: FastAPI serves those outside the app's dependencies, so they would be anonymous.
    app = FastAPI(
        title=title, dependencies=[Depends(_authenticated())], docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.prefix = prefix
    app.exception_handler(RequestValidationError)(_bad_parameter)
    app.exception_handler(StarletteHTTPException)(_login_first)
    app.exception_handler(SchemaMismatch)(_store_not_ready)
    app.exception_handler(StoreNotConfigured)(_store_not_ready)
    return app


async def _bad_parameter(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """400 naming the parameter (``page: Input should be less than or equal to 100000``), not FastAPI's 422."""
    problems = [f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors()]
    return JSONResponse({"detail": "; ".join(problems)}, status_code=400)


async def _login_first(request: Request, exc: StarletteHTTPException) -> Response:
    """A browser without a session asking for a page goes to Airflow's login, and comes back after it; the
    JSON API, the CSV and anything not asking for HTML keep Airflow's 401."""
    if exc.status_code == 401 and _wants_a_page(request):
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    return await http_exception_handler(request, exc)


def _wants_a_page(request: Request) -> bool:
    path = request.url.path
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "/api/" not in path
        and not path.endswith(".csv")
    )


async def _store_not_ready(_request: Request, exc: Exception) -> JSONResponse:
    """503 saying what the operator must do (migrate, or set wechat_store), not a bare 500."""
    return JSONResponse({"detail": str(exc)}, status_code=503)


@cache
def store_engine():
    return engine_for(ready_store())


class DagReader:
    """Whose runs the logged-in user may see: those of the DAGs Airflow's auth manager lets them read,
    whichever manager is configured (a run's fans, openids and CSV included)."""

    def __init__(self, user: Any):
        self.user = user

    def readable(self, dag_ids: set[str]) -> set[str]:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().filter_authorized_dag_ids(dag_ids=dag_ids, user=self.user, method="GET")


def _reader_dependency():
    from airflow.api_fastapi.core_api.security import get_user

    # A default, not Annotated[...]: this module's postponed annotations cannot see get_user from here.
    def reader(user: Any = Depends(get_user)) -> DagReader:  # noqa: B008
        return DagReader(user)

    return reader


READER = Depends(_reader_dependency())


@dataclass(frozen=True)
class Account:
    conn_id: str
    name: str
    appid: str


def chosen_account(conn_id: str | None) -> Account:
    """The chosen account among those the DAGs look after (WECHAT_ACCOUNTS), the first by default."""
    names = account_names()
    if not names:
        raise HTTPException(404, "no accounts: set WECHAT_ACCOUNTS")
    chosen = conn_id or next(iter(names))
    if chosen not in names:
        raise HTTPException(404, f"no account {chosen!r} (the accounts are {', '.join(names)})")
    try:
        appid = WeChatHook(chosen).connection.login or ""
    except Exception as exc:  # AirflowNotFoundException, or a secrets backend's own error
        raise HTTPException(404, f"account {chosen!r}: its connection cannot be read ({exc})") from None
    return Account(chosen, names[chosen], appid)


def beijing_time(moment: float | datetime | None) -> str:
    """An epoch or a datetime as the pages show times: Beijing time, to the minute."""
    if not moment:
        return ""
    when = moment if isinstance(moment, datetime) else datetime.fromtimestamp(moment, SHANGHAI)
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def same_origin(request: Request) -> None:
    """A form posted from another site is refused (the session cookie would otherwise come with it)."""
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise HTTPException(403, "the request came from another site")


def airflow_as_user(request: Request) -> AirflowApi:
    """Airflow's REST API on this very API server (the address that took this request), with the user's
    token: the UI's session cookie or the Bearer token the request came with."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.configuration import conf

    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    token = bearer if scheme.lower() == "bearer" and bearer else request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")
    host, port = request.scope["server"]
    host = f"[{host}]" if ":" in host else host
    tls = bool(conf.get("api", "ssl_cert", fallback=""))
    root = request.scope.get("root_path", "").removesuffix(request.app.state.prefix)
    # Our own socket by its address: the certificate names the public host, not this one.
    return AirflowApi(f"{'https' if tls else 'http'}://{host}:{port}{root}", token, verify=not tls)
