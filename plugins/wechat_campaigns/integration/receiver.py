"""The callback receiver on its own: ``wechat-campaigns serve-callbacks``.

The same app the plugin mounts on Airflow's API server, at the same path (``/wechat/callback/<conn_id>``),
served by uvicorn in processes of its own, so that a big account's pushes do not load the Airflow UI. It
reads the accounts' connections like any Airflow component (``AIRFLOW_CONN_*``, a secrets backend or the
metadata database) and writes to the ``wechat_store`` connection's store.
"""

from __future__ import annotations

import gc

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import callback_app
from .callback_app import routes

PATH = "/wechat/callback"
_PUSHES = PATH + "/"


def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


_routed = Starlette(routes=[*routes(PATH), Route("/health", health)])


async def app(scope, receive, send) -> None:
    """The Starlette app, except that a push (``POST /wechat/callback/<conn_id>``) goes straight to its
    handler: at a campaign's rate the middleware and routing around it cost the receiver a third of its CPU.
    The handler is the same one the routes serve, and an error in it is answered 500 by uvicorn."""
    path = scope.get("path", "") if scope["type"] == "http" else ""
    conn_id = path[len(_PUSHES) :] if path.startswith(_PUSHES) and scope["method"] == "POST" else ""
    if not conn_id or "/" in conn_id:
        await _routed(scope, receive, send)
        return
    scope["path_params"] = {"conn_id": conn_id}
    response = await callback_app.receive(Request(scope, receive, send))
    await response(scope, receive, send)


# What was imported to get here (Airflow, SQLAlchemy, Starlette: most of the process's objects) stays: kept out
# of the garbage collector's full passes, which otherwise walk it again and again under a flood of pushes.
gc.freeze()


def serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        f"{__name__}:app",
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=False,  # the receiver needs no client address; the middleware costs every push
        log_level="warning",
    )
