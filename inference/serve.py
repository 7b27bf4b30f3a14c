"""Local endpoint with the SageMaker container contract: ``GET /ping`` and ``POST /invocations``.

    python -m inference.serve --model artifacts/model/model.tar.gz [--port 8080] [--host 127.0.0.1] [--workers N]

It serves the artifact through the same hooks as the SageMaker container (``handler.invoke`` chains
``input_fn`` -> ``predict_fn`` -> ``output_fn``), on gunicorn's ``gthread`` worker: several pre-forked worker
processes (one per core by default, as SageMaker sizes its model server) with HTTP/1.1 keep-alive. The model is
loaded once, before the workers fork, so a bad artifact fails at start-up with its reason. Bound to 127.0.0.1
unless told otherwise. SIGTERM (or Ctrl-C) stops it gracefully: workers finish the requests in flight, then exit.

It also answers ``POST /endpoints/<name>/invocations``, the path of the SageMaker runtime's ``InvokeEndpoint``
(any endpoint name), so that code using a boto3 ``sagemaker-runtime`` client (``endpoint_url`` set to this server,
any credentials) runs unchanged against it, the controller included. On that path an answer the container would
send with a 4xx or 5xx comes back as SageMaker Runtime sends it: HTTP 424 ``ModelError`` carrying the
container's status and message (``OriginalStatusCode``, ``OriginalMessage``), which boto3 raises as
``ModelError``; a successful answer carries ``x-Amzn-Invoked-Production-Variant: AllTraffic``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

# One BLAS thread per worker: the network is tiny, and several workers share the cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from . import contract  # noqa: E402
from .errors import BadRequest, InferenceError, MethodNotAllowed, NotFound, PayloadTooLarge, error_response  # noqa: E402
from .handler import Model, invoke, load_model  # noqa: E402

log = logging.getLogger("inference.serve")

_request = threading.local()
"""The gunicorn request being handled by this thread (set by the ``pre_request`` hook)."""

_STATUS = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
_RUNTIME_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
"""``InvokeEndpoint``'s request path (the endpoint name is percent-encoded by the client)."""
RUNTIME_VARIANT = "AllTraffic"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class InvocationsApp:
    """The WSGI application: routing, body limits, and the hooks via ``handler.invoke``."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self._ping = json.dumps({"status": "healthy", "model_version": model.model_version}).encode()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        runtime = _RUNTIME_PATH.match(path) is not None
        answered = False  # the hooks ran: on the runtime path, their answer is wrapped as SageMaker Runtime's
        try:
            if path == "/invocations" or runtime:
                if method != "POST":
                    raise MethodNotAllowed(f"{method} {path}: use POST")
                body = _read_body(environ)
                answered = True
                status, out, kind = invoke(self.model, body, environ.get("CONTENT_TYPE"), environ.get("HTTP_ACCEPT"))
            elif path == "/ping":
                if method not in ("GET", "HEAD"):
                    raise MethodNotAllowed(f"{method} /ping: use GET")
                status, out, kind = 200, self._ping, contract.JSON
            else:
                raise NotFound(
                    f"no route {path!r}; the routes are GET /ping, POST /invocations and "
                    "POST /endpoints/<name>/invocations"
                )
        except Exception as err:  # routing and body-read errors share the boundary
            if not isinstance(err, InferenceError):
                log.error("request failed", exc_info=err)
            status, out = error_response(err)
            kind = contract.JSON
            if isinstance(err, PayloadTooLarge):
                _close_after_response()
        headers = [("Content-Type", kind)]
        if runtime and answered:
            status, out, kind, extra = _as_runtime(status, out, kind)
            headers = [("Content-Type", kind), *extra]
        headers.append(("Content-Length", str(len(out))))
        if status == 405:
            headers.append(("Allow", "POST" if path == "/invocations" or runtime else "GET, HEAD"))
        start_response(_STATUS.get(status, f"{status} Error"), headers)
        return [b"" if method == "HEAD" else out]


def _as_runtime(status: int, out: bytes, kind: str) -> tuple[int, bytes, str, list[tuple[str, str]]]:
    """The container's answer as SageMaker Runtime's ``InvokeEndpoint`` returns it (rest-json error shapes)."""
    if status == 200:
        return status, out, kind, [("x-Amzn-Invoked-Production-Variant", RUNTIME_VARIANT)]
    try:
        original = json.loads(out).get("error", "")
    except (ValueError, AttributeError):
        original = out.decode(errors="replace")
    where = "client" if status < 500 else "server"
    body = {
        "Message": f'Received {where} error ({status}) from primary with message "{original}".',
        "OriginalStatusCode": status,
        "OriginalMessage": original,
    }
    return 424, json.dumps(body).encode(), contract.JSON, [("x-amzn-ErrorType", "ModelError")]


def _close_after_response() -> None:
    """Answer with ``Connection: close``: the body was left unread, so the connection cannot be reused."""
    req = getattr(_request, "req", None)
    if req is not None:
        req.force_close()


def _pre_request(worker: Any, req: Any) -> None:
    _request.req = req


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    limit = contract.MAX_BODY_BYTES
    if length:
        try:
            size = int(length)
        except ValueError:
            raise BadRequest(f"Content-Length {length!r} is not a number") from None
        if size > limit:
            raise PayloadTooLarge(f"request body is {size} bytes; the limit is {limit}")
        return stream.read(size)
    data = stream.read(limit + 1)  # chunked transfer: read no more than one byte past the limit
    if len(data) > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    return data


def gunicorn_options(host: str, port: int, workers: int, threads: int, keepalive: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": keepalive,
        "timeout": 30,
        "graceful_timeout": 10,
        "backlog": 2048,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "rl-autoscaler-serve",
        "control_socket_disable": True,
        "pre_request": _pre_request,  # no shared ~/.gunicorn/gunicorn.ctl between servers
    }


def run(model: Model, options: dict[str, Any]) -> None:
    """Serve ``model`` with gunicorn until SIGTERM or SIGINT."""
    from gunicorn.app.base import BaseApplication

    app = InvocationsApp(model)

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> InvocationsApp:
            return app

    _Gunicorn().run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inference.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model.tar.gz, or a directory it was extracted to")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080, as SageMaker)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--keepalive", type=int, default=75, help="idle keep-alive seconds (default 75)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1 or not 0 <= args.port <= 65535:
        parser.error("--workers and --threads must be >= 1 and --port in [0, 65535]")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    try:
        model = load_model(args.model)
    except InferenceError as err:
        log.error("cannot serve %s: %s", args.model, err.message)
        sys.exit(2)
    run(model, gunicorn_options(args.host, args.port, args.workers, args.threads, args.keepalive))


if __name__ == "__main__":
    main()
