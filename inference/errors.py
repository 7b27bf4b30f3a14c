"""Errors that carry their HTTP status, and the one boundary that maps any exception to a response.

Every hook (``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``) runs inside ``boundary``: an
``InferenceError`` passes through with its status; anything else is logged with its traceback and replaced by a
bare 500 that names no internals. The local server turns the status into its HTTP response
(``error_response``); inside the SageMaker PyTorch container the toolkit's transformer does, because
``InferenceError`` derives from the toolkit's ``BaseInferenceToolkitError`` when that is importable.

Unlike the toolkit's own ``UnsupportedFormatError`` (a plain ``Exception``, hence a 500), a wrong Content-Type is
a 415 and a wrong Accept a 406 here. The toolkit appends a stack trace to every error body it returns; the
boundary re-raises client errors without their chain or inner frames, so what it can print is the message and
the boundary's own frame, never a payload or our internals.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

try:  # inside the SageMaker inference container: let its transformer map our statuses
    from sagemaker_inference.errors import BaseInferenceToolkitError as _Base
except ImportError:  # locally: a plain exception with the same fields

    class _Base(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code: int, message: str, phrase: str) -> None:
            super().__init__(status_code, message, phrase)
            self.status_code = status_code
            self.message = message
            self.phrase = phrase


log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class InferenceError(_Base):
    """An error with the HTTP status the client gets; the message is safe to return verbatim."""

    status_code = 500

    def __init__(self, message: str) -> None:
        # The reason phrase is the standard library's, as on the local server's status line (inference/serve.py).
        super().__init__(type(self).status_code, message, HTTPStatus(type(self).status_code).phrase)

    def __str__(self) -> str:
        return self.message


class BadRequest(InferenceError):
    """400: the payload is not a valid decision request; the message names the field."""

    status_code = 400


class NotFound(InferenceError):
    status_code = 404


class MethodNotAllowed(InferenceError):
    status_code = 405


class NotAcceptable(InferenceError):
    """406: none of the media types in Accept can be produced."""

    status_code = 406


class PayloadTooLarge(InferenceError):
    status_code = 413


class UnsupportedMediaType(InferenceError):
    """415: the Content-Type is not one the handler parses."""

    status_code = 415


class InternalError(InferenceError):
    """500: a fault of ours; details are in the log, never in the response."""


class ModelLoadError(InferenceError):
    """The artifact cannot be served (missing file, bad metadata, contract mismatch); the message names why."""


def boundary(func: F) -> F:
    """Run a hook so that only ``InferenceError`` ever leaves it.

    Client errors are re-raised without their exception chain and inner frames (``from None``); any other
    exception is logged with its traceback and becomes an ``InternalError`` whose message names no internals.
    ``functools.wraps`` keeps the signature, which the SageMaker transformer inspects to decide whether to pass
    a context argument.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InferenceError as err:
            if err.status_code >= 500:
                log.error("%s failed: %s", func.__name__, err.message, exc_info=err)
            raise err.with_traceback(None) from None
        except Exception:  # the one place that turns any fault into a response
            log.exception("%s failed", func.__name__)
            raise InternalError(f"internal error in {func.__name__}; see the endpoint logs") from None

    return wrapper  # type: ignore[return-value]


def error_response(err: BaseException) -> tuple[int, bytes]:
    """HTTP status and JSON body for any exception (the local server's half of the boundary)."""
    if not isinstance(err, InferenceError):
        log.error("unhandled error", exc_info=err)
        err = InternalError("internal error; see the endpoint logs")
    body = json.dumps({"error": err.message, "status": err.status_code}).encode()
    return err.status_code, body
