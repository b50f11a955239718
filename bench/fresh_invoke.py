"""One invocation of the function in this fresh process, as a cold Lambda runs it.

``python -m bench.fresh_invoke EVENT.json RESULT.json`` imports ``app`` from
wherever PYTHONPATH points (the built artifact), calls
``app.lambda_handler`` once with a Lambda-like context, and writes to
RESULT.json the moment the handler was entered (``time.monotonic``, which is
system-wide on Linux, so the parent can compare it with the time the answer
arrived), the IAM calls it made and the peak memory of the process.
Nothing of the bench's own tooling is imported before ``app``, so the memory
figure is the function's.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid
from pathlib import Path


class LambdaContext:
    """The parts of the Lambda context object the function reads."""

    def __init__(self, timeout_seconds: float) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = "dms-prerequisite-roles"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 128
        self.invoked_function_arn = (
            "arn:aws:lambda:us-east-1:123456789012:function:dms-prerequisite-roles"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = "/aws/lambda/dms-prerequisite-roles"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(event_file: str, result_file: str) -> int:
    event = json.loads(Path(event_file).read_text())
    began = time.monotonic()
    import app

    imported = time.monotonic()
    from bench.calls import CallRecorder

    recorder = CallRecorder(app.IAM)
    context = LambdaContext(timeout_seconds=300.0)
    entered = time.monotonic()
    app.lambda_handler(event, context)
    returned = time.monotonic()
    result = {
        "import_s": imported - began,
        "entered": entered,
        "returned": returned,
        "calls": [call.to_json() for call in recorder.take()],
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "python": sys.version.split()[0],
        "app_file": str(Path(app.__file__ or "").resolve()),
    }
    Path(result_file).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
