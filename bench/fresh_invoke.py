"""One invocation of the function in this fresh process, as a cold Lambda runs it.

``python -m bench.fresh_invoke EVENT.json RESULT.json`` imports ``app`` from
wherever PYTHONPATH points (the built artifact), invokes it once in-process
(:class:`testkit.invoke.InProcessFunction`), and writes to RESULT.json the
moment the handler was entered (``time.monotonic``, which is system-wide on
Linux, so the parent can compare it with the time the answer arrived), the
IAM calls it made and the peak memory of the process. The test kit is
imported only after ``app``, and brings nothing but the standard library, so
the memory figure is the function's.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(event_file: str, result_file: str) -> int:
    event = json.loads(Path(event_file).read_text())
    began = time.monotonic()
    import app

    imported = time.monotonic()
    from testkit.calls import CallRecorder
    from testkit.invoke import InProcessFunction

    function = InProcessFunction()
    recorder = CallRecorder(function.client)
    run = function.run(event)
    if run.error is not None:
        raise run.error
    result = {
        "import_s": imported - began,
        "entered": run.entered,
        "returned": run.returned,
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
