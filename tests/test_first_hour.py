"""A new user's first hour (issue 23): what the command line says when something goes wrong,
run as real `news-ingest` processes against real SQLite, Postgres, Redis and a Celery worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.apiserver import running_api
from tests.cli_processes import NEWS_INGEST, CliProcess, write_seed
from tests.conftest import TEST_REDIS_URL
from tests.feeds_fixtures import _module_feed_server, feed_server, rss_document, rss_items
from tests.polling import wait_for

__all__ = ["_module_feed_server", "feed_server"]  # fixtures, used by name

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z")
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`news-ingest ARGS` in `cwd`, at 80 columns, its output captured."""
    environment = {
        **os.environ,
        "BROKER_URL": TEST_REDIS_URL,
        "NEWS_INGEST_REDIS_URL": TEST_REDIS_URL,
        "COLUMNS": "80",
        **(env or {}),
    }
    environment.pop("NEWS_INGEST_LOG_LEVEL", None)
    return subprocess.run(
        [str(NEWS_INGEST), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh working directory with the default database (sqlite:///news.db) in it."""
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


@pytest.fixture
def sqlite_env(home: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{home / 'news.db'}"}


def bad_inputs(directory: Path, *, empty: int = 1) -> Path:
    """A seed directory with good files, `empty` empty ones, a binary and a too-large one."""
    directory.mkdir(parents=True, exist_ok=True)
    write_seed(directory / "001_good.txt", 1)
    write_seed(directory / "002_good.txt", 2)
    for n in range(empty):
        (directory / f"1{n:02d}_empty.txt").write_bytes(b"")
    (directory / "200_binary.txt").write_bytes(bytes(range(256)) * 8)
    (directory / "300_large.txt").write_bytes(b"date 2024-05-01 " + b"x " * 3_000_000)
    return directory


class TestRejects:
    def test_run_names_each_rejected_input_and_keeps_exit_0(self, home: Path) -> None:
        """`run DIR` with an empty, a binary and a too-large file lists each with its reason
        on stderr and exits 0: rejects inside a directory do not fail the run."""
        bad_inputs(home / "in")
        result = cli("run", "in", cwd=home)
        assert result.returncode == 0, result.stderr
        assert "5 received, 2 new, 0 duplicates, 0 near duplicates, 3 rejected" in result.stdout
        assert "rejected in/100_empty.txt: empty file" in result.stderr
        assert re.search(r"rejected in/200_binary.txt: binary", result.stderr)
        assert re.search(r"rejected in/300_large.txt: seed file is \d+ bytes, over", result.stderr)

    def test_many_rejects_show_the_first_few_then_a_count(self, home: Path) -> None:
        """Past five rejected inputs, `run` prints how many more and the command to list them."""
        bad_inputs(home / "in", empty=7)
        result = cli("run", "in", cwd=home)
        assert result.stderr.count("rejected in/") == 5
        job_id = JOB_ID.search(result.stderr)
        assert job_id is not None
        assert f"... and 4 more rejected: `news-ingest rejects --job {job_id.group()}`" in (
            result.stderr
        )

    def test_rejects_command_lists_location_reason_and_time(self, home: Path) -> None:
        """`rejects --json` gives location, reason and time; --job takes an id prefix; the
        table shows the time in the one timestamp format."""
        bad_inputs(home / "in")
        cli("run", "in", cwd=home)
        listed = json.loads(cli("rejects", "--json", cwd=home).stdout)
        assert {Path(r["location"]).name for r in listed} == {
            "100_empty.txt",
            "200_binary.txt",
            "300_large.txt",
        }
        assert all(r["reason"] and r["created_at"] and r["job_id"] for r in listed)
        prefix = listed[0]["job_id"][:6]
        by_job = json.loads(cli("rejects", "--job", prefix, "--json", cwd=home).stdout)
        assert len(by_job) == 3
        assert json.loads(cli("rejects", "--since", "2999-01-01", "--json", cwd=home).stdout) == []
        table = cli("rejects", cwd=home).stdout
        assert TIMESTAMP.search(table.replace("\n", " ").replace("  ", " ")) or (
            re.search(r"\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2}:\d{2}Z", table)
        )
        assert "in/100_empty.txt" in table

    def test_api_lists_rejects_in_pages(self, home: Path, sqlite_env: dict[str, str]) -> None:
        """`GET /rejects` pages through every reject with its location and reason, and
        filters by job."""
        bad_inputs(home / "in", empty=3)
        cli("run", "in", cwd=home)
        with (
            running_api(sqlite_env["DATABASE_URL"], home / "api.log") as server,
            server.client() as client,
        ):
            first = client.get("/rejects", params={"limit": 2}).json()
            assert len(first["items"]) == 2 and first["next_cursor"]
            rest = client.get("/rejects", params={"cursor": first["next_cursor"]}).json()
            assert rest["next_cursor"] is None
            everything = first["items"] + rest["items"]
            assert len(everything) == 5
            assert {"location", "reason", "created_at", "job_id"} <= set(everything[0])
            job = everything[0]["job_id"]
            assert len(client.get("/rejects", params={"job": job}).json()["items"]) == 5
            stories = client.get("/stories").json()["items"]
            assert {s["members"] for s in stories} == {1} and len(stories) == 2


class TestEnqueueWait:
    def test_without_a_worker_it_prints_the_id_says_so_and_times_out(
        self, home: Path, redis_client: object
    ) -> None:
        """`enqueue --wait --timeout` with no worker prints the job id first, says that no
        worker has taken the job (naming the queue), and exits 124 with the id and how to
        follow it."""
        write_seed(home / "one.txt", 1)
        result = cli("enqueue", "one.txt", "--wait", "--timeout", "7", "--json", cwd=home)
        assert result.returncode == 124, result.stderr
        job_id = json.loads(result.stdout.splitlines()[0])["job_id"]
        assert f"no worker has taken job {job_id}" in result.stderr
        assert "queue 'news-ingest'" in result.stderr
        assert "celery -A worker.app worker" in result.stderr
        assert f"`news-ingest jobs show {job_id}`" in result.stderr.splitlines()[-1]

    def test_ctrl_c_while_waiting_prints_the_job_id(self, home: Path, redis_client: object) -> None:
        """Ctrl-C during `enqueue --wait` exits 130 and says which job goes on."""
        write_seed(home / "one.txt", 1)
        env = {"BROKER_URL": TEST_REDIS_URL, "DATABASE_URL": f"sqlite:///{home / 'news.db'}"}
        with CliProcess(
            ["enqueue", str(home / "one.txt"), "--wait"], home / "enqueue.log", env=env
        ) as process:
            # Pressed while waiting: after the notice that no worker has taken the job.
            job_id = wait_for(
                lambda: re.search(f"no worker has taken job ({JOB_ID.pattern})", process.log),
                what="the no-worker notice",
                timeout=60,
            ).group(1)
            assert process.process is not None
            process.process.send_signal(signal.SIGINT)
            assert process.process.wait(timeout=30) == 130
        assert f"interrupted: job {job_id} goes on" in process.log

    def test_broker_down_is_one_clear_line(self, home: Path) -> None:
        """With Redis down, `enqueue --wait` fails at once with one line naming the broker
        and the stored job; without --wait the job is kept and the warning says how it
        will be queued."""
        write_seed(home / "one.txt", 1)
        env = {"BROKER_URL": UNREACHABLE_REDIS}
        waited = cli("enqueue", "one.txt", "--wait", cwd=home, env=env)
        assert waited.returncode == 1
        errors = [line for line in waited.stderr.splitlines() if "error" in line]
        assert len(errors) == 1 and "cannot reach the broker redis://127.0.0.1:1/0" in errors[0]
        assert JOB_ID.search(errors[0]) and "jobs.resume" in errors[0]
        queued = cli("enqueue", "one.txt", cwd=home, env=env)
        assert queued.returncode == 0
        assert JOB_ID.fullmatch(queued.stdout.strip())
        assert queued.stderr.count("\n") == 1 and "cannot reach the broker" in queued.stderr

    def test_with_a_worker_the_id_comes_first_then_counts_and_rejects(
        self, tmp_path: Path, celery_worker: object, postgres_db: str
    ) -> None:
        """`enqueue --wait --json` prints {"job_id"} first and the final counts with the
        status last; rejected inputs are named on stderr."""
        bad_inputs(tmp_path / "in")
        result = cli(
            "enqueue", "in", "--wait", "--timeout", "120", "--json",
            cwd=tmp_path, env={"DATABASE_URL": postgres_db},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        first, last = (json.loads(line) for line in result.stdout.splitlines())
        assert set(first) == {"job_id"}
        assert last["job_id"] == first["job_id"] and last["status"] == "done"
        assert last["received"] == 5 and last["rejected"] == 3
        assert "rejected in/100_empty.txt: empty file" in result.stderr
        assert "no worker has taken" not in result.stderr


class TestSeedFiles:
    def test_a_directory_without_txt_files_is_named(self, home: Path) -> None:
        """A folder of .md files gets a warning saying no *.txt files are there and what it
        holds, pointing at the README's seed file section."""
        (home / "notes").mkdir()
        (home / "notes" / "a.md").write_text("date 2024-05-01 Hello.", encoding="utf-8")
        result = cli("run", "notes", cwd=home)
        assert "notes: no *.txt files in this directory (it holds 1 other entry: a.md)" in (
            result.stderr
        )
        assert 'see "Seed files" in the README' in result.stderr

    def test_an_unreadable_date_is_a_warning(self, home: Path) -> None:
        """`date 2024-13-45` is stored without a date and `run` warns, naming the file."""
        (home / "in").mkdir()
        (home / "in" / "001_x.txt").write_text(
            "date 2024-13-45 The council met on Tuesday to agree the budget for next year.",
            encoding="utf-8",
        )
        result = cli("run", "in", cwd=home)
        assert result.returncode == 0
        assert "warning: in/001_x.txt: date invalid: 2024-13-45" in result.stderr

    def test_readme_documents_the_seed_format(self) -> None:
        """The README has a "Seed files" section giving the name, header and paragraph rules."""
        section = README.split("## Seed files", 1)[1].split("\n## ", 1)[0]
        for rule in ("NNN_<id>.txt", "date YYYY-MM-DD", "blank line", "rejects"):
            assert rule in section


class TestWhereIsMyData:
    @pytest.mark.parametrize(
        "command",
        [["articles"], ["stories"], ["jobs"], ["jobs", "list"], ["rejects"], ["stats"]],
    )
    def test_read_only_commands_never_create_a_database(
        self, home: Path, command: list[str]
    ) -> None:
        """A read-only command with no database says where it looked, exits 1 and leaves
        no file behind."""
        result = cli(*command, cwd=home)
        assert result.returncode == 1
        assert f"no database at {home / 'news.db'}" in result.stderr
        assert not (home / "news.db").exists()

    def test_empty_results_name_the_database(self, home: Path) -> None:
        """An empty table is replaced by a line naming the database in use."""
        (home / "empty").mkdir()
        cli("run", str(ROOT / "seeds"), cwd=home)
        result = cli("articles", "--q", "no such words anywhere", cwd=home)
        assert result.returncode == 0
        assert f"no articles matching these filters in sqlite:///news.db ({home / 'news.db'})" in (
            result.stderr
        )

    def test_a_mistyped_sqlite_path_is_not_created(self, home: Path) -> None:
        """`run` with DATABASE_URL in a directory that does not exist fails in one line and
        creates no directory."""
        write_seed(home / "one.txt", 1)
        result = cli("run", "one.txt", cwd=home, env={"DATABASE_URL": "sqlite:///typo/news.db"})
        assert result.returncode == 1
        assert result.stderr.strip().count("\n") == 0
        assert f"no directory {home / 'typo'}" in result.stderr
        assert not (home / "typo").exists()

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("mysql://user:secret@db/news", "unsupported DATABASE_URL mysql://user:***@db/news"),
            ("not a url", "DATABASE_URL is not a database URL"),
        ],
    )
    def test_unsupported_database_urls_are_one_line(
        self, home: Path, url: str, message: str
    ) -> None:
        """An unsupported or unparsable DATABASE_URL is one line, password hidden."""
        result = cli("articles", cwd=home, env={"DATABASE_URL": url})
        assert result.returncode == 1
        assert message in result.stderr and result.stderr.strip().count("\n") == 0
        assert "secret" not in result.stderr


def serve_feed(server: HTTPServer, path: str = "/feed.xml") -> str:
    """A feed answering 304 to its own ETag."""
    document = rss_document(rss_items(2))

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(document, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    server.expect_request(path).respond_with_handler(handler)
    return server.url_for(path)


class TestNamedInputs:
    def test_a_missing_path_fails_the_run_after_the_rest(self, home: Path) -> None:
        """A named path that does not exist exits 1, and the inputs that exist are still
        ingested."""
        write_seed(home / "one.txt", 1)
        result = cli("run", "one.txt", "nothere", cwd=home)
        assert result.returncode == 1
        assert "1 received, 1 new" in result.stdout
        assert "nothere: no such file or directory" in result.stderr
        assert "could not be read: nothere" in result.stderr

    def test_an_unreachable_url_fails_the_run(self, home: Path) -> None:
        """`run URL` for a server that refuses connections exits 1 with the reason."""
        result = cli("run", "http://127.0.0.1:1/feed.xml", cwd=home)
        assert result.returncode == 1
        assert "http://127.0.0.1:1/feed.xml:" in result.stderr
        assert "could not be read: http://127.0.0.1:1/feed.xml" in result.stderr

    def test_run_url_does_not_subscribe_and_says_not_modified(
        self, home: Path, feed_server: HTTPServer
    ) -> None:
        """`run URL` stores the entries without registering the feed; run again, the 304 is
        "not modified" in the summary; --subscribe registers it."""
        url = serve_feed(feed_server)
        first = cli("run", url, cwd=home)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("2 received")
        assert json.loads(cli("feeds", "list", "--json", cwd=home).stdout) == []
        second = cli("run", url, "--json", cwd=home)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["not_modified"] == [url]
        plain = cli("run", url, cwd=home)
        assert f"not modified since the last fetch: {url}" in plain.stdout
        subscribed = cli("run", url, "--subscribe", cwd=home)
        assert "a worker and beat fetch it on schedule" in subscribed.stderr
        feeds = json.loads(cli("feeds", "list", "--json", cwd=home).stdout)
        assert [feed["url"] for feed in feeds] == [url]


class TestRunTheWorkerYourself:
    def test_the_queue_is_a_setting(self) -> None:
        """NEWS_INGEST_QUEUE names the queue the Celery app sends to (and workers consume)."""
        code = "from worker.app import app; print(app.conf.task_default_queue)"
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "NEWS_INGEST_QUEUE": "elsewhere"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == "elsewhere"

    def test_enqueue_names_the_configured_queue(self, home: Path, redis_client: object) -> None:
        """With no worker, `enqueue --wait` names the queue it sent to (NEWS_INGEST_QUEUE)."""
        write_seed(home / "one.txt", 1)
        result = cli(
            "enqueue", "one.txt", "--wait", "--timeout", "6", cwd=home,
            env={"NEWS_INGEST_QUEUE": "elsewhere"},
        )  # fmt: skip
        assert "queue 'elsewhere'" in result.stderr
        assert "-Q elsewhere" in result.stderr

    def test_readme_shows_worker_beat_and_relay(self) -> None:
        """The README's "Run the worker yourself" section gives the env, the worker with -Q,
        beat with its --scheduler, and the relay."""
        section = README.split("## Run the worker yourself", 1)[1].split("\n## ", 1)[0]
        for needed in (
            "DATABASE_URL=",
            "BROKER_URL=",
            "NEWS_INGEST_QUEUE",
            "celery -A worker.app worker",
            "-Q",
            "celery -A worker.app beat",
            "--scheduler=worker.beat:HeartbeatScheduler",
            "news-ingest events relay",
        ):
            assert needed in section

    def test_registering_says_a_worker_and_beat_do_the_rest(
        self, home: Path, tmp_path: Path
    ) -> None:
        """`feeds add` and `sources add-dir` say that a worker and beat fetch or rescan, and
        how to do it now."""
        cli("run", str(ROOT / "seeds"), cwd=home)
        added = cli("feeds", "add", "http://127.0.0.1:9/feed.xml", cwd=home)
        assert "by a Celery worker and one beat" in added.stderr
        assert "news-ingest feeds fetch 2" in added.stderr or "news-ingest feeds fetch" in (
            added.stderr
        )
        (tmp_path / "drop").mkdir()
        directory = cli("sources", "add-dir", str(tmp_path / "drop"), cwd=home)
        assert "It is rescanned on schedule by a Celery worker and one beat" in directory.stderr

    def test_a_checkout_without_the_kernel_is_detected(self, tmp_path: Path) -> None:
        """Python run inside a checkout that has no build of the kernel, while another copy
        has one, is told so (workers log this at start)."""
        import shutil

        from worker.kernel_check import kernel_in_use

        if not kernel_in_use():
            pytest.skip("no compiled kernel in this environment")
        checkout = tmp_path / "checkout"
        for package in ("worker", "schemas"):
            shutil.copytree(
                ROOT / package, checkout / package, ignore=shutil.ignore_patterns("*.so")
            )
        code = "from worker.kernel_check import kernel_warning; print(kernel_warning())"
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True, check=True
        )
        assert f"imported worker from {checkout}" in result.stdout
        assert "build_ext --inplace" in result.stdout


class TestTables:
    def test_job_ids_are_whole_at_80_columns_and_found_by_prefix(self, home: Path) -> None:
        """`jobs` at 80 columns shows every 36-character id whole; `jobs show` takes its
        first characters; an unknown prefix is one line."""
        write_seed(home / "one.txt", 1)
        run = cli("run", "one.txt", cwd=home)
        job_id = json.loads(cli("jobs", "--json", cwd=home).stdout)[0]["id"]
        listing = cli("jobs", cwd=home).stdout
        assert job_id in listing, listing
        assert all(len(line) <= 80 for line in listing.splitlines())
        shown = cli("jobs", "show", job_id[:5], cwd=home)
        assert shown.returncode == 0, shown.stderr
        assert f"id               {job_id}" in shown.stdout
        assert TIMESTAMP.search(shown.stdout)
        missing = cli("jobs", "show", "zzzz", cwd=home)
        assert missing.returncode == 1 and "no job zzzz" in missing.stderr
        assert run.returncode == 0

    def test_an_ambiguous_prefix_names_the_candidates(self, home: Path) -> None:
        """A prefix shared by several jobs is refused, listing them."""
        write_seed(home / "one.txt", 1)
        for _ in range(3):
            cli("run", "one.txt", cwd=home)
        result = cli("jobs", "show", "", cwd=home)
        assert result.returncode == 1
        assert "'' matches 3 jobs" in result.stderr

    def test_titles_are_cut_at_a_word(self) -> None:
        """A long title is cut at a word boundary and marked with an ellipsis."""
        from worker.cli.common import cut_at_word

        title = "The council agreed a budget after a long debate on housing and transport"
        cut = cut_at_word(title, 40)
        assert cut.endswith("…") and len(cut) <= 40
        assert title.startswith(cut[:-1]) and title[len(cut) - 1] == " "
        assert cut_at_word("short", 40) == "short"


class TestSmallThings:
    def test_version_and_completion(self, home: Path) -> None:
        """`--version` prints the version; typer's completion options are offered."""
        from importlib.metadata import version

        assert cli("--version", cwd=home).stdout.strip() == f"news-ingest {version('news-ingest')}"
        helped = cli("--help", cwd=home).stdout
        assert "--install-completion" in helped and "--show-completion" in helped

    def test_articles_pages_and_filters(self, home: Path) -> None:
        """`articles` shows 50 of many and says so; --limit, --all, --until, --source and
        --q narrow or widen what is shown."""
        (home / "in").mkdir()
        (home / "old").mkdir()
        for n in range(60):
            write_seed(home / "in" / f"{n:03d}_a.txt", n, date="2024-05-01")
        write_seed(home / "old" / "000_old.txt", 500, date="2020-01-01")
        cli("run", "in", "old", cwd=home)
        shown = cli("articles", cwd=home)
        assert "showing 50 of 61 (--limit N or --all for more)" in shown.stdout
        assert len(json.loads(cli("articles", "--all", "--json", cwd=home).stdout)) == 61
        assert len(json.loads(cli("articles", "--limit", "5", "--json", cwd=home).stdout)) == 5
        until = json.loads(cli("articles", "--until", "2021-01-01", "--json", cwd=home).stdout)
        assert len(until) == 1
        old = json.loads(cli("articles", "--source", "old", "--json", cwd=home).stdout)
        assert [a["id"] for a in old] == [a["id"] for a in until]
        word = until[0]["body"].split()[3]
        found = json.loads(cli("articles", "--q", word, "--all", "--json", cwd=home).stdout)
        assert until[0]["id"] in [a["id"] for a in found]

    def test_stats_counts_rates_and_draws_a_chart(self, home: Path) -> None:
        """`stats` gives articles per source and per day, duplicate rates and rejects by
        reason, as JSON and as a chart."""
        bad_inputs(home / "in")
        cli("run", "in", cwd=home)
        cli("run", "in", cwd=home)
        document = json.loads(cli("stats", "--json", cwd=home).stdout)
        assert document["articles"] == 2 and document["received"] == 10
        assert document["duplicates"] == 2 and document["duplicate_rate"] == 0.2
        assert document["per_day"] == [{"day": "2024-05-01", "articles": 2}]
        assert document["per_source"][0]["articles"] == 2
        reasons = {row["reason"]: row["count"] for row in document["rejects_by_reason"]}
        assert reasons["empty file"] == 2
        chart = cli("stats", cwd=home).stdout
        assert "articles per day" in chart and "█" in chart and "2024-05-01" in chart

    def test_a_warning_is_printed_once(self, home: Path) -> None:
        """The same warning raised twice in one command is printed once."""
        write_seed(home / "one.txt", 1)
        result = cli("run", "one.txt", "nothere", "nothere", cwd=home)
        assert result.stderr.count("nothere: no such file or directory") == 1

    def test_warnings_print_above_the_progress_bar_not_into_it(self, home: Path) -> None:
        """On a terminal, a warning raised while the progress bar shows clears the bar's line
        first, is printed once, and no log line repeats it."""
        import pty

        (home / "in").mkdir()
        for n in range(30):
            write_seed(home / "in" / f"{n:03d}_x.txt", n)
        master, slave = pty.openpty()
        environment = {**os.environ, "BROKER_URL": TEST_REDIS_URL, "COLUMNS": "100"}
        environment.pop("NEWS_INGEST_LOG_LEVEL", None)
        url = "http://127.0.0.1:1/feed.xml"
        process = subprocess.Popen(
            [str(NEWS_INGEST), "run", "in", url], stdout=slave, stderr=slave, cwd=home,
            env=environment,
        )  # fmt: skip
        os.close(slave)
        output = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            output += chunk
        os.close(master)
        assert process.wait(timeout=60) == 1
        text = output.decode(errors="replace")
        assert "ingesting" in text
        assert text.count(f"news-ingest: warning: {url}") == 1
        assert f"\x1b[2Knews-ingest: warning: {url}" in text
        assert "feed fetch failed" not in text

    def test_events_tail_says_when_nothing_relays(self, home: Path, redis_client: object) -> None:
        """`events tail` with events waiting in the outbox, and no relay, says so."""
        import sqlite3

        write_seed(home / "one.txt", 1)
        cli("run", "one.txt", cwd=home)
        with sqlite3.connect(home / "news.db") as connection:
            connection.execute("UPDATE outbox_events SET created_at = '2020-01-01 00:00:00'")
        result = cli("events", "tail", cwd=home)
        assert result.returncode == 0
        assert "1 events wait in the outbox" in result.stderr
        assert "nothing is relaying them" in result.stderr

    def test_docs_stay_inside_the_repository(self) -> None:
        """README and docs/ never point at files outside the repository."""
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
            assert "../shared" not in path.read_text(encoding="utf-8"), path

    def test_every_setting_is_in_the_readme(self) -> None:
        """Each setting's environment variable is in the README, and the generated
        configuration table is the one in the README."""
        from worker.cli.config import env_name, markdown_table, setting_rows
        from worker.settings import Settings

        missing = [env_name(n) for n in Settings.model_fields if env_name(n) not in README]
        assert missing == []
        rows = setting_rows()
        for line in markdown_table(rows).splitlines()[2:]:
            assert line.split(" | ")[0] in README


class TestStatsOnBothDatabases:
    def test_stats_reads_the_same_on_sqlite_and_postgres(self, engine: Any, tmp_path: Path) -> None:
        """`stats` counts articles per UTC day and per source, rates and rejects by reason,
        on SQLite and Postgres alike."""
        from worker.cli.stats import collect
        from worker.services import jobs as job_service
        from worker.services import parts as part_service

        bad_inputs(tmp_path / "in")
        write_seed(tmp_path / "in" / "003_undated.txt", 3, date="2024-13-45")
        for _ in range(2):
            job_id = job_service.create_job(engine=engine)
            job_service.add_seed_parts(
                engine=engine, job_id=job_id, paths=[tmp_path / "in"], batch_size=100
            )
            for part_no in (0,):
                part_service.run_part(engine=engine, job_id=job_id, part_no=part_no)
            job_service.seal_job(engine=engine, job_id=job_id)
        document = collect(engine, days=30)
        assert (document["articles"], document["received"], document["duplicates"]) == (3, 12, 3)
        assert document["duplicate_rate"] == 0.25
        assert document["per_day"] == [
            {"day": "2024-05-01", "articles": 2},
            {"day": None, "articles": 1},
        ]
        assert document["per_source"] == [
            {"source": str((tmp_path / "in").resolve()), "kind": "seed_dir", "articles": 3}
        ]
        assert {r["reason"]: r["count"] for r in document["rejects_by_reason"]}["empty file"] == 2
