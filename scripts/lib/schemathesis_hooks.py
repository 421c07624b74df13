"""schemathesis hooks for baton (loaded through SCHEMATHESIS_HOOKS).

A claim or an inbox read may wait up to 10 minutes for something to arrive
(`wait_ms`, at most 600000), which is what it is for, and what no run of a
few minutes can afford. A wait inside its bounds is cut to 500 ms; one
outside them is left as generated, so the server is still seen to refuse it.
The cut is made just before each call, so that every phase (coverage,
fuzzing, stateful), however it built its case, sends the cut value.
"""
import schemathesis

WAIT_MAX_MS = 600_000
WAIT_CUT_MS = 500


def _within_bounds(value):
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return WAIT_CUT_MS < number <= WAIT_MAX_MS


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    for part in (case.body, case.query):
        if isinstance(part, dict) and "wait_ms" in part and _within_bounds(part["wait_ms"]):
            part["wait_ms"] = WAIT_CUT_MS
