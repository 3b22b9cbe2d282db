"""``python -m wechat_sandbox --host 127.0.0.1 --port PORT [--seed FILE] [--state FILE] [--tls-cert C --tls-key K]``.

With ``--tls-cert`` and ``--tls-key`` it speaks HTTPS, as WeChat does (the tests give it a certificate from a
test CA). Prints ``wechat-sandbox ready on http://HOST:PORT`` (or ``https://``) once it accepts connections
(``--port 0`` picks a free port, and the line tells which). SIGTERM/SIGINT stop it cleanly with exit status 0,
saving ``--state``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from .server import create_app


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, host: str, port: int) -> None:
        super().__init__(config)
        scheme = "https" if config.ssl_certfile else "http"
        self.ready_line = f"wechat-sandbox ready on {scheme}://{host}:{port}"

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            print(self.ready_line, flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the captured signal after shutdown, which would end the process with -SIGTERM;
        # a sandbox asked to stop has done nothing wrong, so it exits 0 instead.
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wechat-sandbox", description="Local emulator of the WeChat OA API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument("--seed", help="JSON or YAML file of accounts and fans to create at start")
    parser.add_argument("--state", help="JSON file: loaded at start if present, saved at shutdown")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS with; needs --tls-key")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("wechat-sandbox: --tls-cert and --tls-key go together")
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(seed=args.seed, state_file=args.state),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level=args.log_level,
        access_log=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=5,
        backlog=2048,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
    )
    server = _Server(config, args.host, port)
    server.run(sockets=[sock])
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
