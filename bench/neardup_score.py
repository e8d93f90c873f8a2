"""Ingest a labelled near-duplicate set with the real CLI and score its story grouping.

    python bench/neardup_score.py DIR [--database-url URL] [--env NEWS_INGEST_X=V ...]
                                      [--errors] [--keep]

DIR holds seeds/*.txt and truth.json (../shared/eval/neardup-dev, or a set made by
bench/make_neardup.py). The seeds go through `news-ingest run` into a fresh SQLite database
in a temporary directory (or the database given, which should be empty), then
`news-ingest export --format jsonl`; the export is scored exactly as
../shared/eval/score.py scores it (pairwise precision and recall of story_id against the
truth). Prints one JSON line: the score, the ingest time and the similarity settings in force.

--env sets a variable for the ingest (e.g. NEWS_INGEST_NEAR_DUP_THRESHOLD=0.6), as exporting
it would. --errors also lists what went wrong, with each file's edit kinds and the measured
similarity of the pair (Jaccard, containment, shingles of the smaller text) computed from the
exported bodies with the pipeline's own shingling: the false-positive pairs (different
stories merged), the false-negative pairs (one story split), and split files counted by kind.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SEED_NAME = re.compile(r"(\d{4}_[0-9a-f]{16}\.txt)")  # what score.py finds in a sighting
KNOBS = (
    "NEWS_INGEST_SHINGLE_WORDS",
    "NEWS_INGEST_NEAR_DUP_THRESHOLD",
    "NEWS_INGEST_NEAR_DUP_CONTAINMENT_THRESHOLD",
    "NEWS_INGEST_CONTAINMENT_MIN_JACCARD",
    "NEWS_INGEST_EDITED_COPY_CONTAINMENT",
    "NEWS_INGEST_EDITED_COPY_JACCARD",
    "NEWS_INGEST_EDITED_COPY_PASSAGES",
    "NEWS_INGEST_SINGLE_PASSAGE_MIN_SHINGLES",
    "NEWS_INGEST_MIN_CONTAINMENT_SHINGLES",
    "NEWS_INGEST_SHORT_LEAD_MIN_SHINGLES",
    "NEWS_INGEST_SHORT_LEAD_CONTAINMENT",
    "NEWS_INGEST_LSH_BANDS",
    "NEWS_INGEST_LEAD_BANDS",
    "NEWS_INGEST_MINHASH_PERMS",
    "NEWS_INGEST_STORY_MERGE_JACCARD",
    "NEWS_INGEST_STORY_BRIDGE_SHARE",
    "NEWS_INGEST_COMMON_PARAGRAPH_STORIES",
)
OFFICIAL_SCORER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "score.py"


def stories_from_export(export: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """file name -> story_id, and file name -> its exported article (as score.py reads it)."""
    story: dict[str, Any] = {}
    article: dict[str, dict[str, Any]] = {}
    with export.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            for sighting in record.get("sightings") or []:
                found = SEED_NAME.search(json.dumps(sighting))
                if found:
                    story[found.group(1)] = record["story_id"]
                    article[found.group(1)] = record
    return story, article


def score(truth: dict[str, Any], story: dict[str, Any]) -> dict[str, Any]:
    """Pairwise precision and recall: the same arithmetic, rounding and keys as score.py."""
    missing = [f for f in truth if f not in story]
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same = truth[a] == truth[b]
        pred = a in story and b in story and story[a] == story[b]
        tp += same and pred
        fp += pred and not same
        fn += same and not pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "files": len(truth),
        "unaccounted_files": len(missing),
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("news-ingest") or str(Path(sys.executable).with_name("news-ingest"))
    done = subprocess.run([exe, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"news-ingest {' '.join(args)} failed with exit code {done.returncode}")
    return done


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


class PairMeasure:
    """Similarity of two exported articles, with the settings and shingling the ingest used."""

    def __init__(self) -> None:
        try:
            from worker.pipeline import dedup
            from worker.pipeline.normalize import fingerprint_paragraphs
            from worker.settings import Settings
        except ImportError as error:  # the scorer still works on a tree without the pipeline
            print(f"(no similarity figures: {error})", file=sys.stderr)
            self.ok = False
            return
        self.ok = True
        self.settings = Settings()
        self._dedup, self._fingerprint = dedup, fingerprint_paragraphs
        self._cache: dict[int, Any] = {}

    def shingles(self, record: dict[str, Any]) -> Any:
        """The record's shingle hashes, as the service computes them (before leaving out
        common paragraphs)."""
        if record["id"] not in self._cache:
            self._cache[record["id"]] = self._dedup.shingles(
                " ".join(self._fingerprint(record["body"])), size=self.settings.shingle_words
            )
        return self._cache[record["id"]]

    def __call__(self, a: dict[str, Any] | None, b: dict[str, Any] | None) -> tuple[float, str]:
        """(decision score, description); (-1, "") when it cannot be measured."""
        if not self.ok or a is None or b is None:
            return -1.0, ""
        if a["id"] == b["id"]:
            return 1.0, "same article"
        sim = self._dedup.similarity(self.shingles(a), self.shingles(b))
        decision = sim.score(min_containment_shingles=self.settings.min_containment_shingles)
        return decision, (
            f"score {decision:.3f} (jaccard {sim.jaccard:.3f}, containment "
            f"{sim.containment:.3f}, smaller {sim.smaller})"
        )


def report_errors(
    truth: dict[str, Any],
    kinds: dict[str, str],
    story: dict[str, Any],
    article: dict[str, dict[str, Any]],
    *,
    limit: int,
) -> None:
    measure = PairMeasure()
    names = sorted(truth)

    def label(name: str) -> str:
        return f"{name} [{kinds.get(name, '?')}]"

    false_pos, false_neg = [], []
    for a, b in itertools.combinations(names, 2):
        same = truth[a] == truth[b]
        pred = a in story and b in story and story[a] == story[b]
        if pred and not same:
            false_pos.append((a, b))
        elif same and not pred:
            false_neg.append((a, b))

    missing = [n for n in names if n not in story]
    if missing:
        print(f"\nunaccounted files ({len(missing)}): " + ", ".join(label(n) for n in missing))

    print(f"\nfalse positives: {len(false_pos)} pairs (different stories, one story_id)")
    for a, b in false_pos[:limit]:
        print(f"  FP {label(a)} ~ {label(b)}  {measure(article.get(a), article.get(b))[1]}")

    print(f"\nfalse negatives: {len(false_neg)} pairs (one story, several story_ids)")
    for a, b in false_neg[:limit]:
        print(f"  FN {label(a)} ~ {label(b)}  {measure(article.get(a), article.get(b))[1]}")
    if len(false_pos) > limit or len(false_neg) > limit:
        print(f"  (first {limit} of each; --limit to see more)")

    # A split story: the files outside the predicted group that holds most of it, and why.
    members: dict[Any, list[str]] = collections.defaultdict(list)
    for name in names:
        members[truth[name]].append(name)
    split_kinds: collections.Counter[str] = collections.Counter()
    split_edits: collections.Counter[str] = collections.Counter()
    all_edits: collections.Counter[str] = collections.Counter()
    lines = []
    for sid, files in members.items():
        for name in files:
            all_edits.update(kinds.get(name, "?").split("+"))
        groups = collections.Counter(story.get(n) for n in files)
        if len(groups) < 2:
            continue
        main = groups.most_common(1)[0][0]
        core = [n for n in files if story.get(n) == main]
        for name in files:
            if story.get(name) == main:
                continue
            split_kinds[kinds.get(name, "?")] += 1
            split_edits.update(kinds.get(name, "?").split("+"))
            nearest = max(
                ((*measure(article.get(name), article.get(c)), c) for c in core),
                default=(-1.0, "", ""),
            )
            lines.append(
                f"  {label(name)} apart from {len(core)} of story {sid}; nearest "
                f"{nearest[2]} [{kinds.get(nearest[2], '?')}] {nearest[1]}"
            )
    if lines:
        print(f"\nsplit files ({len(lines)}), outside the largest group of their story:")
        print("\n".join(lines[:limit]))
        print(
            "split files by edit (split / files with that edit): "
            + ", ".join(f"{k} {n}/{all_edits[k]}" for k, n in split_edits.most_common())
        )

    # How close the nearest different stories come, whatever the index found: the margin a
    # lower threshold would eat into.
    if measure.ok:
        by_id = {r["id"]: r for r in article.values()}
        truth_of = {}
        for name, record in article.items():
            truth_of.setdefault(record["id"], truth.get(name))
        postings: dict[str, list[int]] = collections.defaultdict(list)
        for article_id, record in sorted(by_id.items()):
            for shingle in measure.shingles(record):
                postings[shingle].append(article_id)
        shared: collections.Counter[tuple[int, int]] = collections.Counter()
        for ids in postings.values():
            if len(ids) <= 50:  # a shingle in more articles than that is boilerplate anyway
                shared.update(itertools.combinations(ids, 2))
        names_of: dict[int, list[str]] = collections.defaultdict(list)
        for name, record in article.items():
            names_of[record["id"]].append(name)
        near = []
        for (x, y), _count in shared.items():
            if truth_of[x] != truth_of[y]:
                value, text = measure(by_id[x], by_id[y])
                near.append((value, text, names_of[x][0], names_of[y][0]))
        near.sort(reverse=True)
        print(
            f"\nclosest different-story pairs (the precision margin), of {len(near)} sharing a shingle:"
        )
        for _value, text, a, b in near[:10]:
            print(f"  {label(a)} ~ {label(b)}  {text}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument(
        "--database-url", help="an empty database to use instead of a temporary SQLite one"
    )
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for the ingest, e.g. NEWS_INGEST_NEAR_DUP_THRESHOLD=0.6",
    )
    ap.add_argument("--errors", action="store_true", help="list false pairs and split files")
    ap.add_argument("--limit", type=int, default=60, help="pairs listed per kind of error")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    seeds, truth_path = args.dir / "seeds", args.dir / "truth.json"
    if not seeds.is_dir() or not truth_path.is_file():
        raise SystemExit(f"{args.dir} needs seeds/ and truth.json")
    truth_doc = json.loads(truth_path.read_text(encoding="utf-8"))
    truth, kinds = truth_doc["files"], truth_doc.get("kind", {})

    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--env wants NAME=VALUE, not {item!r}")
        os.environ[name] = value  # for the ingest and for the similarity figures of --errors

    work = Path(tempfile.mkdtemp(prefix="neardup-score-"))
    try:
        env = dict(os.environ)
        env["DATABASE_URL"] = args.database_url or f"sqlite:///{work / 'news.db'}"
        _cli(env, "db", "upgrade")
        started = time.perf_counter()
        ran = _cli(env, "run", str(seeds), "--json")
        elapsed = time.perf_counter() - started
        export = work / "export.jsonl"
        _cli(env, "export", "--format", "jsonl", "-o", str(export))
        story, article = stories_from_export(export)
        result = {
            "set": str(args.dir),
            **score(truth, story),
            "ingest_seconds": round(elapsed, 2),
            "ms_per_file": round(1000 * elapsed / max(1, len(truth)), 2),
            "ingest": _last_json(ran.stdout),
            "settings": {
                k.removeprefix("NEWS_INGEST_").lower(): os.environ[k]
                for k in KNOBS
                if k in os.environ
            },
        }
        if OFFICIAL_SCORER.is_file():  # the reference implementation must agree with ours
            official = subprocess.run(
                [sys.executable, str(OFFICIAL_SCORER), str(truth_path), str(export)],
                capture_output=True,
                text=True,
                check=True,
            )
            if _last_json(official.stdout) != {k: result[k] for k in _last_json(official.stdout)}:
                print(f"score.py disagrees: {official.stdout.strip()}", file=sys.stderr)
                result["official"] = _last_json(official.stdout)
        print(json.dumps(result))
        rejected = result["ingest"].get("rejected", 0)
        if rejected:
            print(
                f"warning: the ingest rejected {rejected} file(s); see the rejects table "
                "(--keep keeps the database)",
                file=sys.stderr,
            )
        if args.errors:
            report_errors(truth, kinds, story, article, limit=args.limit)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
