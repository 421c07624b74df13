"""Writes linker/startup.ld from callgrind profiles of the daemon.

Usage: startup_order.py BINARY MAPS START_PROFILE [REQUESTS_PROFILE] > linker/startup.ld

MAPS is a copy of the profiled process's /proc/PID/maps.

Every function of BINARY that ran (callgrind's `--dump-instr=yes` gives the
address of every instruction run) goes into one output section placed before
`.text`: first those run from start to idle (START_PROFILE), then those that
common requests ran besides (REQUESTS_PROFILE), so that the code an idle
daemon has run fills as few pages as it can.

Rust's symbol names end in a hash of the crate's build (its dependencies, the
compiler's version): a name that is the only one of its kind in the binary is
written with the hash as a wildcard, so it keeps matching after an upgrade. A
generic function has one symbol per instantiation, told apart by the hash
alone: those are written in full, so the script pulls in only the ones that
ran (and stops matching them when the hashes change, until the script is
regenerated).
"""
import bisect
import os
import re
import subprocess
import sys
from collections import Counter

LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E$")
V0_CRATE = re.compile(r"Cs[0-9a-zA-Z]+_")


def load_range(maps, binary):
    """Where `binary` is mapped in the process: (load base, end)."""
    binary = os.path.realpath(binary)
    base, end = None, 0
    for line in open(maps):
        fields = line.split()
        if len(fields) >= 6 and fields[5] == binary:
            start, stop = (int(bound, 16) for bound in fields[0].split("-"))
            if int(fields[2], 16) == 0 and base is None:
                base = start
            end = max(end, stop)
    if base is None:
        sys.exit(f"{binary} is not mapped in {maps}")
    return base, end


def executed_addresses(profile, binary, mapped):
    """Addresses (as in the file) of the instructions run in `binary`, from a
    callgrind dump. Callgrind gives them relative to the binary for code in
    its `.text`; code in other sections (the start-up section itself) it
    files under an unknown object, at its address in the process."""
    binary = os.path.realpath(binary)
    base, end = mapped
    objects, current, last, addresses = {}, None, 0, set()
    for line in open(profile, encoding="utf-8", errors="replace"):
        # Object names are numbered at their first mention, as the object of
        # the code that follows (ob=) or as that of a callee (cob=).
        match = re.match(r"(c?)ob=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
        if match:
            if match.group(3):
                objects[match.group(2)] = match.group(3) if match.group(3) == "???" else os.path.realpath(match.group(3))
            if not match.group(1):
                current = objects.get(match.group(2))
            continue
        token = line.split(maxsplit=1)[0] if line.strip() else ""
        # Position lines: an absolute address, or one relative to the last.
        if token.startswith("0x"):
            last = int(token, 16)
        elif token[:1] in ("+", "-") and token[1:].isdigit():
            last += int(token)
        elif token != "*":
            continue
        if current == binary:
            addresses.add(last)
        elif current == "???" and base <= last < end:
            addresses.add(last - base)
    return addresses


def function_symbols(binary):
    """(address, size, name) of every function symbol, by address."""
    listing = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True, check=True)
    symbols = []
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwW":
            symbols.append((int(fields[0], 16), int(fields[1], 16), fields[3]))
    return sorted(symbols)


def pattern(name):
    """The name with its build hashes as wildcards."""
    if name.startswith("_R"):
        return V0_CRATE.sub("Cs*_", name)
    return LEGACY_HASH.sub("17h*E", name)


def ran_functions(profile, binary, mapped, symbols, starts):
    """Indexes in `symbols` of the functions that ran in `binary`."""
    ran = set()
    for address in executed_addresses(profile, binary, mapped):
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and symbols[i][0] <= address < symbols[i][0] + symbols[i][1]:
            ran.add(i)
    if not ran:
        sys.exit(f"no function of {binary} ran in {profile}")
    return ran


# The workspace's manifests, whose dependency features change symbols too.
MANIFESTS = ("Cargo.toml", "actors/Cargo.toml")


def fnv1a64(*paths):
    """FNV-1a (64 bits) of the files' bytes, one after the other, which build.rs computes too."""
    digest = 0xCBF29CE484222325
    for path in paths:
        for byte in open(path, "rb").read():
            digest = ((digest ^ byte) * 0x100000001B3) % (1 << 64)
    return f"{digest:016x}"


def main():
    binary, maps, profiles = sys.argv[1], sys.argv[2], sys.argv[3:]
    mapped = load_range(maps, binary)
    symbols = function_symbols(binary)
    starts = [address for address, _, _ in symbols]
    groups, seen = [], set()
    for profile in profiles:
        ran = ran_functions(profile, binary, mapped, symbols, starts) - seen
        seen |= ran
        groups.append(sorted(ran))
    kinds = Counter(pattern(name) for _, _, name in symbols)

    def written(i):
        wildcard = pattern(symbols[i][2])
        return wildcard if kinds[wildcard] == 1 else symbols[i][2]

    size = sum(symbols[i][1] for i in seen)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    # build.rs reads the next three lines to warn when the script is stale:
    # symbols change with the compiler, the dependencies and their features.
    print("/* Generated by scripts/startup-order.sh: do not edit.")
    print(f"   Built by: {rustc}")
    print(f"   Cargo.lock: {fnv1a64('Cargo.lock')}")
    print(f"   Manifests: {fnv1a64(*MANIFESTS)}")
    print("   The functions the daemon runs from start to idle, then those common requests")
    print(f"   run besides ({' + '.join(str(len(group)) for group in groups)} functions, {size // 1024} KiB), placed together")
    print("   before the rest of the code; see build.rs. `.text*.` as LLVM puts the")
    print("   functions it deems cold in `.text.unlikely.<name>`. */")
    print("SECTIONS")
    print("{")
    print("  .text.baton_startup :")
    print("  {")
    for group in groups:
        print("    *(")
        for name in dict.fromkeys(written(i) for i in group):
            print(f"      .text*.{name}")
        print("    )")
    print("  }")
    print("}")
    print("INSERT BEFORE .text;")


if __name__ == "__main__":
    main()
