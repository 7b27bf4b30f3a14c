"""Serve requests from an extracted model.tar.gz the way the SageMaker PyTorch inference container does.

Run by ``test_packaging.py`` in a subprocess whose only path to our code is ``<model_dir>/code`` on PYTHONPATH
(as TorchServe sets it), never the repository. It loads ``code/inference.py`` through the toolkit's own
``HandlerService`` (sagemaker-pytorch-inference) and ``Transformer`` (sagemaker-inference), with a stand-in for
the TorchServe context, sends the requests given as JSON on stdin, and prints what the toolkit answered.
This file imports nothing of ours.
"""

from __future__ import annotations

import importlib.util
import json
import sys


class _RequestProcessor:
    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def get_request_properties(self) -> dict[str, str]:
        return self._headers


class _Context:
    """The parts of the TorchServe context the toolkit uses."""

    def __init__(self, model_dir: str, headers: dict[str, str]) -> None:
        self.system_properties = {"model_dir": model_dir}
        self.request_processor = [_RequestProcessor(headers)]
        self.status: int | None = None
        self.content_type: str | None = None

    def set_response_status(self, code: int, phrase: str) -> None:
        self.status = code

    def set_response_content_type(self, idx: int, content_type: str) -> None:
        self.content_type = content_type


def main() -> None:
    model_dir = sys.argv[1]
    spec = importlib.util.find_spec("inference")
    report: dict[str, object] = {
        "inference_module": spec.origin if spec else None,
        "repo_importable": importlib.util.find_spec("training") is not None,
        "sys_path": sys.path,
    }
    try:  # the PyTorch container's handler service (it imports torch)
        from sagemaker_pytorch_serving_container.handler_service import HandlerService
    except ImportError:  # the generic toolkit's, same Transformer: for a numpy-only interpreter
        from sagemaker_inference.default_handler_service import DefaultHandlerService as HandlerService

    report["handler_service"] = f"{HandlerService.__module__}.{HandlerService.__name__}"
    service = HandlerService()
    # TorchServe keeps one context per worker and sets each request's headers on it (ts/service.py), and the
    # toolkit's Transformer passes the context it was initialised with to hooks that take one: do the same.
    ctx = _Context(model_dir, {})
    service.initialize(ctx)
    results = []
    for req in json.load(sys.stdin):
        ctx.request_processor = [_RequestProcessor(req["headers"])]
        ctx.status = ctx.content_type = None
        out = service.handle([{"body": bytearray(req["body"].encode("utf-8"))}], ctx)
        body = out[0]
        results.append(
            {
                "status": ctx.status or 200,
                "content_type": ctx.content_type,
                "body": body.decode() if isinstance(body, (bytes, bytearray)) else body,
            }
        )
    report["results"] = results
    print(json.dumps(report))


if __name__ == "__main__":
    main()
