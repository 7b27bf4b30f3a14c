"""CloudFormation custom resources in the deploy rehearsal's moto server, which runs Lambda code only in Docker.

moto hands a custom resource's event to the function behind it and keeps the stack in progress until the function
answers CloudFormation; without Docker no function runs, so a stack with a custom resource never completes. The
rehearsal's moto server imports this module (`install(port)`), which changes only what a function does with a
CloudFormation event:

- a Python function with inline code (ours, stacks/lambdas/stage_files.py: copy the artifact, write the Ray token)
  runs in this process exactly as written, its AWS calls going to this same moto server, and answers as it would
  on Lambda (so the rehearsal checks what it wrote);
- any other function (CDK's Node.js provider that empties a bucket when the stack is deleted) is answered
  SUCCESS without running, and logged as not run; the rehearsal reports it as such.

Every other invocation goes to moto unchanged.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import traceback
import types
import zipfile
from typing import Any

NOT_RUN_PREFIX = "rehearsal: custom resource answered without running its function:"
_STACK_WORK = threading.RLock()
"""Held while moto creates or updates a stack's resources, and while an answer marks a stack ready. moto invokes a
custom resource's function in a thread of its own: an answer that came while the stack was still being created
raced the creation (a loaded machine left the stack CREATE_IN_PROGRESS for ever); now it waits for it."""


def _answer(event: dict[str, Any], status: str, reason: str, data: dict[str, Any] | None = None) -> None:
    """Answer CloudFormation in this process, as moto's own cfnresponse handler would for a PUT to ResponseURL."""
    from moto.cloudformation.models import cloudformation_backends

    _, _, _, region, account, _ = event["StackId"].split(":", 5)
    with _STACK_WORK:
        stack = cloudformation_backends[account][region].get_stack(event["StackId"])
        if status == "SUCCESS":
            stack.get_custom_resource(event["LogicalResourceId"]).set_data(data or {})
            stack.verify_readiness()
        else:  # moto ignores a FAILED answer and would wait forever: fail the stack, as CloudFormation does
            print(
                f"rehearsal: custom resource {event['LogicalResourceId']} FAILED: {reason}", file=sys.stderr, flush=True
            )
            stack.status = f"{event['RequestType'].upper()}_FAILED"


def _inline_python(function: Any) -> str | None:
    if not str(function.run_time or "").startswith("python") or not function.code_bytes:
        return None
    with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
        return archive.read("index.py").decode() if "index.py" in archive.namelist() else None


def _serialised(method: Any) -> Any:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _STACK_WORK:
            return method(self, *args, **kwargs)

    return locked


def install(port: int) -> None:
    import moto.awslambda.models as lambda_models
    from moto.cloudformation.models import Stack

    Stack.create_resources = _serialised(Stack.create_resources)
    Stack.update = _serialised(Stack.update)

    os.environ.update(
        {
            "MOTO_PORT": str(port),  # moto builds the ResponseURL from it
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",  # the functions' boto3 clients call this server
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "rehearsal"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "rehearsal"),
        }
    )
    original = lambda_models.LambdaFunction.invoke

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        event = json.loads(body) if isinstance(body, (str, bytes)) and body else body
        if not (isinstance(event, dict) and "/cfnresponse" in str(event.get("ResponseURL", ""))):
            return original(self, body, request_headers, response_headers)
        source = _inline_python(self)
        if source is None:
            print(f"{NOT_RUN_PREFIX} {event['LogicalResourceId']} ({self.run_time})", file=sys.stderr, flush=True)
            _answer(event, "SUCCESS", "not run by the deploy rehearsal (moto runs Lambda code only in Docker)")
            return b""
        try:
            module = types.ModuleType("index")
            exec(compile(source, f"<{self.function_name}>/index.py", "exec"), module.__dict__)
            # Its answer (a PUT to ResponseURL on Lambda) goes straight to moto's stack, in this process.
            module.respond = lambda event, status, reason, physical, data: _answer(event, status, reason, data)
            handler_name = (self.handler or "index.handler").split(".", 1)[1]
            getattr(module, handler_name)(event, None)
        except Exception:  # a function that dies without answering would leave the stack in progress for ever
            _answer(event, "FAILED", traceback.format_exc(limit=3))
        return b""

    lambda_models.LambdaFunction.invoke = invoke
