"""schemathesis hooks for baton (loaded through SCHEMATHESIS_HOOKS).

A claim or an inbox read may wait up to 10 minutes for something to arrive
(`wait_ms`, at most 600000), which is what it is for, and what no run of a
few minutes can afford. A wait inside its bounds is cut to 500 ms; one
outside them is left as generated, so the server is still seen to refuse it.
"""
import schemathesis

WAIT_MAX_MS = 600_000
WAIT_CUT_MS = 500


def _cut(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and WAIT_CUT_MS < value <= WAIT_MAX_MS:
        return WAIT_CUT_MS
    return value


@schemathesis.hook
def map_body(ctx, body):
    if isinstance(body, dict) and "wait_ms" in body:
        body["wait_ms"] = _cut(body["wait_ms"])
    return body


@schemathesis.hook
def map_query(ctx, query):
    if isinstance(query, dict) and "wait_ms" in query:
        value = query["wait_ms"]
        try:
            number = float(value)
        except (TypeError, ValueError):
            return query
        if WAIT_CUT_MS < number <= WAIT_MAX_MS:
            query["wait_ms"] = WAIT_CUT_MS
    return query
