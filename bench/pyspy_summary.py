"""Summarise a py-spy raw profile: the share of samples in each function (inclusive and
self), or how one function's samples split among the functions it calls.

    py-spy record -r 250 --format raw -o prof.txt -- news-ingest run bench/out/bulk20000
    python bench/pyspy_summary.py prof.txt [--top 30] [--under _store]

py-spy is not a dependency of the project: `pip install py-spy` to profile.
"""

from __future__ import annotations

import argparse
from collections import Counter


def frame_name(frame: str) -> str:
    """'function (path/to/module.py:line)' -> 'function module.py'."""
    name, _, location = frame.partition(" (")
    return f"{name} {location.split(':')[0].rsplit('/', 1)[-1]}".strip()


def read(path: str) -> list[tuple[list[str], int]]:
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            if stack and count.isdigit():
                stacks.append(([frame_name(frame) for frame in stack.split(";")], int(count)))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--under", help="split this function's samples by the functions it calls")
    args = parser.parse_args()
    stacks = read(args.profile)
    total = sum(count for _, count in stacks) or 1
    if args.under:
        calls: Counter[str] = Counter()
        for frames, count in stacks:
            names = [frame.split(" ")[0] for frame in frames]
            if args.under in names:
                position = names.index(args.under)
                calls[frames[position + 1] if position + 1 < len(frames) else "(self)"] += count
        print(f"{args.under}: {100 * sum(calls.values()) / total:.1f}% of {total} samples")
        for name, count in calls.most_common(args.top):
            print(f"  {100 * count / total:5.1f}  {name}")
        return
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"-- {title}")
        for name, count in counter.most_common(args.top):
            print(f"  {100 * count / total:5.1f}  {name}")


if __name__ == "__main__":
    main()
