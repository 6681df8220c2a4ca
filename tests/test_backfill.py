"""`kasuhara score --engine dask`: the batch backfill on a dask.distributed LocalCluster gives,
after ordering by index, byte for byte what the single-process CLI writes; it resumes after a
failed partition, reads Parquet and fsspec URLs, and refuses to mix runs."""
import json
import os
import random
import shutil
import uuid

import fsspec
import pytest

from kasuhara import backfill
from kasuhara.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "messages.jsonl")

pytestmark = pytest.mark.slow  # loads the shipped model on the cluster's workers

BAD_LINES = [
    "",
    "{not json",
    '{"id": "b-1"}',
    '{"id": "b-2", "text": "   "}',
    '{"id": "b-3", "text": 42}',
    '{"id": "b-4", "text": "返金しろ", "received_at": "昨日"}',
    '{"id": "b-5", "text": "返金しろ", "channel": "fax"}',
    "[1, 2, 3]",
]


def _archive(n: int = 240, seed: int = 7) -> list[str]:
    """Test-split messages as an archive: a few customers writing many times (history and
    persistence), some without a time or a customer, bad lines in between."""
    from kasuhara.training.corpus import load_split

    rng = random.Random(seed)
    recs = load_split("test")
    lines = []
    for k in range(n):
        r = recs[(k * 7) % len(recs)]
        msg = {"id": f"m-{k}", "text": r["text"], "channel": r["channel"]}
        if k % 5:
            msg["customer_id"] = f"cust-{rng.randrange(12)}"
        if k % 9:
            msg["received_at"] = f"2026-10-{1 + rng.randrange(3):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+09:00"
        lines.append(json.dumps(msg, ensure_ascii=False))
        if k % 37 == 0:
            lines.append(BAD_LINES[(k // 37) % len(BAD_LINES)])
    return lines


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """(input file, what the single-process CLI writes for it, its exit code)."""
    d = tmp_path_factory.mktemp("archive")
    src, ref = d / "archive.jsonl", d / "cli.jsonl"
    lines = [line.encode("utf-8") for line in _archive()]
    lines.insert(50, b'{"id": "bad-utf8", "text": "\xff\xfe\xe3\x81"}')  # invalid UTF-8: an error record
    lines.insert(90, b'{"id": "crlf", "text": "\xe8\xbf\x94\xe9\x87\x91\xe3\x81\x97\xe3\x82\x8d"}\r')  # CRLF line end
    src.write_bytes(b"\n".join(lines) + b"\n")
    code = main(["score", "--input", str(src), "--output", str(ref)])
    return src, ref.read_bytes(), code


def _by_index(out_dir: str) -> bytes:
    """The part files' records ordered by index, index removed, as JSON Lines."""
    fs, path = fsspec.core.url_to_fs(out_dir)
    rows = []
    for p in sorted(fs.glob(path.rstrip("/") + "/part-*.jsonl")):
        with fs.open(p, "rt", encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    rows.sort(key=lambda r: r["index"])
    assert [r["index"] for r in rows] == list(range(len(rows)))
    return "".join(json.dumps({k: v for k, v in r.items() if k != "index"}, ensure_ascii=False) + "\n"
                   for r in rows).encode("utf-8")


def test_examples_identical_to_the_cli(client, tmp_path):
    ref = tmp_path / "cli.jsonl"
    assert main(["score", "--input", EXAMPLES, "--output", str(ref)]) == 0
    out = backfill.run(client, EXAMPLES, str(tmp_path / "out"), partitions=3, merged=str(tmp_path / "m.jsonl"))
    assert out.exit_code == 0 and out.rows == 6 and out.scored == [0, 1, 2]
    assert _by_index(str(tmp_path / "out")) == ref.read_bytes()
    assert (tmp_path / "m.jsonl").read_bytes() == ref.read_bytes()


def test_archive_with_bad_lines_and_history_identical_to_the_cli(client, archive, tmp_path):
    src, ref, code = archive
    assert code == 1  # the CLI reports the bad lines
    assert b'"persistence"' in ref and b'"messages_7d": 1' in ref  # history was used
    out = backfill.run(client, str(src), str(tmp_path / "out"), partitions=4, block_bytes=4096,
                       merged=str(tmp_path / "m.jsonl"))
    assert out.exit_code == 1 and out.errors == ref.count(b'"error": {')
    assert _by_index(str(tmp_path / "out")) == ref
    assert (tmp_path / "m.jsonl").read_bytes() == ref
    manifest = json.loads((tmp_path / "out" / backfill.MANIFEST).read_text())
    assert sum(d["rows"] for d in manifest["done"].values()) == ref.count(b"\n") == manifest["rows"]


def test_a_customer_stays_in_one_partition():
    lines = [json.dumps({"text": "x", "customer_id": "cust-3"}), json.dumps({"text": "y", "customer_id": "cust-3"})]
    parts = {backfill.customer_partition(line, i * 101, 8) for i, line in enumerate(lines)}
    assert len(parts) == 1
    assert backfill.customer_partition("{bad", 13, 8) == 13 % 8


def test_failed_partition_is_redone_alone_on_rerun(client, archive, tmp_path):
    src, ref, _ = archive
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "part-00002.jsonl.tmp").mkdir()  # partition 2 cannot write its file
    first = backfill.run(client, str(src), str(out_dir), partitions=4)
    assert list(first.failed) == [2] and first.exit_code == 3
    assert not (out_dir / "part-00002.jsonl").exists()
    kept = {p: (out_dir / f"part-{p:05d}.jsonl").stat().st_mtime_ns for p in (0, 1, 3)}
    (out_dir / "part-00002.jsonl.tmp").rmdir()
    second = backfill.run(client, str(src), str(out_dir), merged=str(tmp_path / "m.jsonl"))
    assert second.scored == [2] and second.skipped == [0, 1, 3] and not second.failed
    assert {p: (out_dir / f"part-{p:05d}.jsonl").stat().st_mtime_ns for p in (0, 1, 3)} == kept
    assert (tmp_path / "m.jsonl").read_bytes() == ref and second.exit_code == 1


def test_a_damaged_part_file_is_redone(client, tmp_path):
    out_dir = tmp_path / "out"
    backfill.run(client, EXAMPLES, str(out_dir), partitions=2)
    (out_dir / "part-00001.jsonl").write_text("{}\n")
    again = backfill.run(client, EXAMPLES, str(out_dir))
    assert again.scored == [1] and again.skipped == [0]


def test_rerun_refuses_another_input_or_model(client, tmp_path):
    out_dir = str(tmp_path / "out")
    backfill.run(client, EXAMPLES, out_dir, partitions=2)
    changed = tmp_path / "changed.jsonl"
    changed.write_text(open(EXAMPLES, encoding="utf-8").read() + '{"id": "new", "text": "ふざけるな"}\n',
                       encoding="utf-8")
    with pytest.raises(backfill.BackfillError, match="the input has changed"):
        backfill.run(client, str(changed), out_dir)
    manifest = json.loads((tmp_path / "out" / backfill.MANIFEST).read_text())
    manifest["model_version"] = "1999.01.01-old"
    (tmp_path / "out" / backfill.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(backfill.BackfillError, match="model version differs"):
        backfill.run(client, EXAMPLES, out_dir)
    with pytest.raises(backfill.BackfillError, match="part files but no"):
        (tmp_path / "out" / backfill.MANIFEST).unlink()
        backfill.run(client, EXAMPLES, out_dir)


def test_parquet_input_and_output(client, archive, tmp_path):
    """A folder of Parquet part files (timestamps as a timestamp column) scores like the same
    rows as JSON Lines; Parquet part files carry the CLI's record per row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kasuhara.models.messages import parse_time

    src, _, _ = archive
    rows = []
    for line in src.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("text"), str) and obj["text"].strip() \
                and obj.get("channel") != "fax" and obj.get("received_at") != "昨日":
            rows.append(obj)
    as_jsonl = tmp_path / "rows.jsonl"
    as_jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ref = tmp_path / "cli.jsonl"
    assert main(["score", "--input", str(as_jsonl), "--output", str(ref)]) == 0
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    for k, lo in enumerate(range(0, len(rows), 100)):
        part = rows[lo:lo + 100]
        table = pa.table({
            "id": [r["id"] for r in part], "text": [r["text"] for r in part],
            "channel": [r.get("channel") for r in part], "customer_id": [r.get("customer_id") for r in part],
            "received_at": pa.array([parse_time(r["received_at"]) if r.get("received_at") else None for r in part],
                                    pa.timestamp("s", tz="+09:00"))})
        pq.write_table(table, pq_dir / f"part-{k}.parquet", row_group_size=40)
    (pq_dir / "_SUCCESS").write_text("")
    out = backfill.run(client, str(pq_dir), str(tmp_path / "out"), backfill.Config(output_format="parquet"),
                       partitions=3, merged=str(tmp_path / "m.jsonl"))
    assert out.exit_code == 0 and out.rows == len(rows)
    assert (tmp_path / "m.jsonl").read_bytes() == ref.read_bytes()
    t = pq.read_table(tmp_path / "out" / "part-00000.parquet")
    assert set(t.column_names) >= {"index", "id", "harassment", "risk", "level", "labels", "record"}


def test_fsspec_memory_urls(client, tmp_path):
    """memory:// input (a glob of two files) and output: the index runs across the files in name order."""
    lines = open(EXAMPLES, encoding="utf-8").read().splitlines()
    base = f"memory://kasuhara-{uuid.uuid4().hex}"
    with fsspec.open(f"{base}/in/a.jsonl", "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:2]) + "\n")
    with fsspec.open(f"{base}/in/b.jsonl", "w", encoding="utf-8") as f:
        f.write("\n".join(lines[2:]) + "\n")
    ref = tmp_path / "cli.jsonl"
    main(["score", "--input", EXAMPLES, "--output", str(ref)])
    out = backfill.run(client, f"{base}/in/*.jsonl", f"{base}/out", partitions=2, merged=f"{base}/merged.jsonl")
    assert out.exit_code == 0 and out.rows == len(lines)
    assert _by_index(f"{base}/out") == ref.read_bytes()
    with fsspec.open(f"{base}/merged.jsonl", "rb") as f:
        assert f.read() == ref.read_bytes()
    fsspec.filesystem("memory").rm(base.removeprefix("memory://"), recursive=True)


def test_cli_on_a_scheduler_address(client, archive, tmp_path, capsys):
    src, ref, _ = archive
    code = main(["score", "--engine", "dask", "--scheduler", client.scheduler.address, "--input", str(src),
                 "--output", str(tmp_path / "out"), "--partitions", "2", "--merged", str(tmp_path / "m.jsonl")])
    assert code == 1  # the archive has bad lines, as the CLI says
    assert (tmp_path / "m.jsonl").read_bytes() == ref
    assert "could not be scored" in capsys.readouterr().err


def test_cli_needs_an_output_folder(capsys):
    assert main(["score", "--engine", "dask", "--input", EXAMPLES]) == 2
    assert "--output DIR" in capsys.readouterr().err


def test_cli_on_a_local_process_cluster(tmp_path):
    """The default: a local cluster of worker processes (the plugin and tasks are pickled)."""
    ref = tmp_path / "cli.jsonl"
    main(["score", "--input", EXAMPLES, "--output", str(ref)])
    shutil.copy(EXAMPLES, tmp_path / "in.jsonl")
    code = main(["score", "--engine", "dask", "--workers", "1", "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "out"), "--merged", str(tmp_path / "m.jsonl")])
    assert code == 0
    assert (tmp_path / "m.jsonl").read_bytes() == ref.read_bytes()


def _engine_ids(dask_worker):
    return sorted(id(e) for e in dask_worker.plugins[backfill.PLUGIN_NAME]._engines.values())


def test_engine_loaded_once_per_worker_across_runs(client, tmp_path):
    backfill.run(client, EXAMPLES, str(tmp_path / "a"), partitions=4)
    first = client.run(_engine_ids)
    backfill.run(client, EXAMPLES, str(tmp_path / "b"), partitions=4)
    assert client.run(_engine_ids) == first
    assert all(len(ids) == 1 for ids in first.values())


def test_dask_flags_without_the_dask_engine_are_an_error(tmp_path, capsys):
    assert main(["score", "--input", EXAMPLES, "--output", str(tmp_path / "o"), "--scheduler", "tcp://x:1"]) == 2
    assert "need --engine dask" in capsys.readouterr().err


def test_killed_run_resumes_where_it_stopped(tmp_path):
    """`kasuhara score --engine dask` killed after its first partition; the same command again
    scores only the rest, and the merged output is still the CLI's."""
    import signal
    import subprocess
    import sys

    src, ref = tmp_path / "in.jsonl", tmp_path / "cli.jsonl"
    src.write_text("\n".join(_archive(1200)) + "\n", encoding="utf-8")
    main(["score", "--input", str(src), "--output", str(ref)])
    cmd = [sys.executable, "-m", "kasuhara.cli", "score", "--engine", "dask", "--workers", "1", "--partitions", "8",
           "--progress", "--input", str(src), "--output", str(tmp_path / "out")]
    first = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in first.stderr:
        if " done: " in line:
            first.send_signal(signal.SIGTERM)
            break
    first.communicate(timeout=60)
    assert first.returncode != 0
    finished = json.loads((tmp_path / "out" / backfill.MANIFEST).read_text())["done"]
    assert 1 <= len(finished) < 8
    second = subprocess.run(cmd + ["--merged", str(tmp_path / "m.jsonl")], stderr=subprocess.PIPE, text=True,
                            timeout=300)
    summary = json.loads([line for line in second.stderr.splitlines() if line.startswith('{"rows"')][-1])
    assert summary["skipped"] == len(finished) and summary["scored"] == 8 - len(finished)
    assert (tmp_path / "m.jsonl").read_bytes() == ref.read_bytes()
