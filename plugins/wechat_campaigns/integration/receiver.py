"""The callback receiver on its own: ``wechat-campaigns serve-callbacks``.

The same app the plugin mounts on Airflow's API server, at the same path (``/wechat/callback/<conn_id>``),
served by uvicorn in processes of its own, so that a big account's pushes do not load the Airflow UI. It
reads the accounts' connections like any Airflow component (``AIRFLOW_CONN_*``, a secrets backend or the
metadata database) and writes to the ``wechat_store`` connection's store.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .callback_app import routes

PATH = "/wechat/callback"


def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[*routes(PATH), Route("/health", health)])


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
