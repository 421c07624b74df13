"""Wall time of whole processes, shared by the bench scripts."""
import statistics
import subprocess
import time


def time_cases(cases, runs, may_fail=()):
    """Runs each case `runs` times; returns {name: (median ms, p99 ms)}.

    `cases` maps a name to a function of the run number that returns the argv
    and the bytes for stdin (or None). A case named in `may_fail` may exit
    non-zero (supervisorctl status exits 3 when it supervises nothing).
    """
    results = {}
    for name, case in cases.items():
        times = []
        for n in range(runs):
            argv, stdin = case(n)
            start = time.perf_counter()
            subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, check=name not in may_fail)
            times.append((time.perf_counter() - start) * 1000)
        results[name] = median_p99(times)
    return results


def median_p99(times):
    """The median and the 99th percentile (ms) of a list of times (ms)."""
    times = sorted(times)
    return statistics.median(times), times[max(int(len(times) * 0.99) - 1, 0)]


def print_table(results, runs):
    """Prints the results as a Markdown table."""
    print(f"| command ({runs} runs each) | median | p99 |")
    print("|---|---:|---:|")
    for name, (median, p99) in results.items():
        print(f"| {name} | {median:.2f} ms | {p99:.2f} ms |")
