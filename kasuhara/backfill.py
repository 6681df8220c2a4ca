"""Batch backfill on Dask: ``kasuhara score --engine dask --input URL --output DIR``.

A ticket archive (JSON Lines or Parquet; a file, a glob or a folder of part files; local paths or
fsspec URLs) is scored on a Dask cluster in three steps:

1. *scan*: each input block (JSON Lines: ~32 MB of whole lines; Parquet: a file) is hashed and its
   rows counted, giving every row its global index (the line number the single-process CLI would
   give it, files taken in name order) and the input's fingerprint;
2. *split*: each block's rows go to partition ``hash(customer_id) % N`` (rows without a customer id
   by index), so a customer's messages are all in one partition;
3. *score*: each partition is scored like the CLI scores a file (time order, batches of 256, the
   customer's earlier messages as history) and written as ``part-NNNNN.jsonl`` (or ``.parquet``),
   every row carrying its input ``index``.

``_manifest.json`` in the output folder records the input fingerprint, the model version and the
finished partitions (rows, error records, SHA-256); a rerun redoes only the partitions not
recorded (or whose file no longer matches its checksum) and refuses to mix results of another
input or model. The engine is loaded once per worker by :class:`EngineLoader`, a worker plugin.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import io
import itertools
import json
import math
import operator
import os
import posixpath
import re
import sys
import threading
from dataclasses import dataclass

import fsspec
from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin
from fsspec.utils import infer_compression, read_block

MANIFEST = "_manifest.json"
MANIFEST_FORMAT = 1
PLUGIN_NAME = "kasuhara-engine"
BLOCK_BYTES = 32 * 2**20
ROWS_PER_PARTITION = 20_000
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet", ".pq")
OUTPUT_FORMATS = ("jsonl", "parquet")
PART_FILE = re.compile(r"part-\d{5}\.(jsonl|parquet)")


class BackfillError(Exception):
    """A backfill that cannot start or continue; the message says what to do."""


@dataclass(frozen=True)
class Config:
    """What decides the results, besides the input: recorded in the manifest."""

    model: str | None = None
    policy: str | None = None
    cascade: bool = False
    output_format: str = "jsonl"


@dataclass(frozen=True)
class Chunk:
    """One unit of input for one task: a byte range of whole lines, a whole (compressed) file,
    or one Parquet row group."""

    path: str
    offset: int = 0
    length: int | None = None
    row_group: int | None = None


@dataclass
class Outcome:
    rows: int
    errors: int
    partitions: int
    scored: list[int]
    skipped: list[int]
    failed: dict[int, str]
    merged: str | None = None

    @property
    def exit_code(self) -> int:
        return 3 if self.failed else 1 if self.errors else 0


# -- the engine, once per worker -------------------------------------------------------------
class EngineLoader(WorkerPlugin):
    """Keeps one loaded Engine per (model, policy, cascade) on each worker."""

    name = PLUGIN_NAME

    def setup(self, worker) -> None:
        self._engines: dict = {}
        self._lock = threading.Lock()

    def engine(self, config: Config):
        from kasuhara.models.engine import Engine

        key = (config.model, config.policy, config.cascade)
        with self._lock:
            if key not in self._engines:
                self._engines[key] = Engine.load(config.model, config.policy, cascade=config.cascade)
            return self._engines[key]


def _worker_engine(config: Config):
    return get_worker().plugins[PLUGIN_NAME].engine(config)


def _has_engine_loader(dask_worker) -> bool:
    return PLUGIN_NAME in dask_worker.plugins


def ensure_engine_loader(client: Client) -> None:
    """Register :class:`EngineLoader` unless every worker has it (registering again would drop
    the engines a warm cluster has loaded)."""
    have = client.run(_has_engine_loader)
    if not have or not all(have.values()):
        client.register_plugin(EngineLoader(), name=PLUGIN_NAME)


def _model_version(config: Config) -> str:
    return _worker_engine(config).version


# -- input -----------------------------------------------------------------------------------
def _kind(path: str) -> str | None:
    name = path.lower()
    if name.endswith(".gz") or name.endswith(".bz2") or name.endswith(".xz") or name.endswith(".zst"):
        name = name.rsplit(".", 1)[0]
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def list_inputs(url: str, storage_options: dict | None = None):
    """(filesystem, sorted file paths, "jsonl" | "parquet") for a file, a glob or a folder."""
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if fs.isdir(path):
        paths = [p for p in fs.find(path) if _kind(p)
                 and not posixpath.basename(p).startswith(("_", "."))]
    elif any(c in path for c in "*?["):
        paths = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isfile(path):
        paths = [path]
    else:
        raise BackfillError(f"input not found: {url}")
    if not paths:
        raise BackfillError(f"no input files (.jsonl, .ndjson, .json, .parquet, .pq) at {url}")
    kinds = {_kind(p) or "jsonl" for p in paths}
    if len(kinds) > 1:
        raise BackfillError(f"{url} mixes JSON Lines and Parquet files; score them separately")
    return fs, sorted(paths), kinds.pop()


def plan_chunks(fs, paths: list[str], fmt: str, block_bytes: int = BLOCK_BYTES) -> list[Chunk]:
    """Blocks of whole lines for uncompressed JSON Lines; a whole file otherwise (Parquet files
    are split into row groups after the scan)."""
    chunks = []
    for p in paths:
        if fmt == "jsonl" and infer_compression(p) is None:
            size = fs.size(p)
            chunks += [Chunk(p, off, block_bytes) for off in range(0, max(size, 1), block_bytes)]
        else:
            chunks.append(Chunk(p))
    return chunks


def _read_bytes(fs, chunk: Chunk) -> bytes:
    if chunk.length is None:
        with fs.open(chunk.path, "rb", compression=infer_compression(chunk.path)) as f:
            return f.read()
    with fs.open(chunk.path, "rb") as f:
        return read_block(f, chunk.offset, chunk.length, delimiter=b"\n")


def _lines(data: bytes) -> list[str]:
    """The lines exactly as the CLI reads a file (universal newlines, invalid UTF-8 kept as
    surrogate escapes, line ends stripped)."""
    with io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as f:
        return [line.rstrip("\r\n") for line in f]


def _json_value(v):
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _parquet_lines(fs, chunk: Chunk) -> list[str]:
    """A row group as the JSON Lines it stands for (timestamps as ISO-8601; naive ones are read
    as JST, like naive strings), so that it is validated and scored like a line."""
    import pyarrow.parquet as pq

    with fs.open(chunk.path, "rb") as f:
        rows = pq.ParquetFile(f).read_row_group(chunk.row_group).to_pylist()
    return [json.dumps(_json_value(r), ensure_ascii=False) for r in rows]


def read_chunk(fs, chunk: Chunk) -> list[str]:
    return _parquet_lines(fs, chunk) if chunk.row_group is not None else _lines(_read_bytes(fs, chunk))


def scan_chunk(fs, chunk: Chunk, fmt: str) -> tuple[str, list[int]]:
    """(SHA-256 of the chunk's bytes, row counts): one count for a block of lines, one per row
    group for a Parquet file."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with fs.open(chunk.path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        with fs.open(chunk.path, "rb") as f:
            meta = pq.ParquetFile(f).metadata
            return digest, [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    data = _read_bytes(fs, chunk)
    return hashlib.sha256(data).hexdigest(), [len(_lines(data))]


def customer_partition(line: str, index: int, partitions: int) -> int:
    """A stable partition for a line: by customer id (so a customer's history stays together),
    by index for lines without one (they have no history)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        obj = None
    cid = obj.get("customer_id") if isinstance(obj, dict) else None
    if isinstance(cid, str) and cid:
        h = hashlib.blake2b(cid.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(h, "big") % partitions
    return index % partitions


def split_chunk(fs, chunk: Chunk, start: int, partitions: int) -> tuple[list[tuple[int, str]], ...]:
    out: tuple[list[tuple[int, str]], ...] = tuple([] for _ in range(partitions))
    for k, line in enumerate(read_chunk(fs, chunk)):
        out[customer_partition(line, start + k, partitions)].append((start + k, line))
    return out


# -- scoring ---------------------------------------------------------------------------------
def part_name(p: int, output_format: str) -> str:
    return f"part-{p:05d}.{output_format}"


def _part_bytes(indexed: list[tuple[int, dict]], output_format: str) -> bytes:
    if output_format == "jsonl":
        return "".join(json.dumps({"index": i, **rec}, ensure_ascii=False) + "\n"
                       for i, rec in indexed).encode("utf-8")
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {
        "index": pa.array([i for i, _ in indexed], pa.int64()),
        "id": pa.array([r.get("id") for _, r in indexed], pa.string()),
        "error_code": pa.array([r["error"]["code"] if "error" in r else None for _, r in indexed], pa.string()),
        "harassment": pa.array([r.get("harassment") for _, r in indexed], pa.bool_()),
        "risk": pa.array([r.get("risk") for _, r in indexed], pa.float64()),
        "level": pa.array([r.get("level") for _, r in indexed], pa.string()),
        "labels": pa.array([r.get("labels") for _, r in indexed], pa.list_(pa.string())),
        "model_version": pa.array([r.get("model_version") for _, r in indexed], pa.string()),
        "record": pa.array([json.dumps(r, ensure_ascii=False) for _, r in indexed], pa.string()),
    }
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


def score_partition(pieces: list[list[tuple[int, str]]], p: int, out_fs, out_dir: str, config: Config) -> dict:
    """Score partition ``p`` (its rows from every input chunk) and write its part file: first
    to a temporary name, then renamed, so a part file is either whole or absent."""
    from kasuhara.cli import score_lines  # the CLI's own loop: the same records, byte for byte

    rows = sorted(itertools.chain.from_iterable(pieces))
    indices = [i for i, _ in rows]
    records = score_lines([line for _, line in rows], indices, _worker_engine(config))
    data = _part_bytes(list(zip(indices, records)), config.output_format)
    name = part_name(p, config.output_format)
    final = posixpath.join(out_dir, name)
    tmp = final + ".tmp"
    with out_fs.open(tmp, "wb") as f:
        f.write(data)
    out_fs.mv(tmp, final)
    return {"file": name, "rows": len(rows), "errors": sum(1 for r in records if "error" in r),
            "sha256": hashlib.sha256(data).hexdigest()}


# -- manifest --------------------------------------------------------------------------------
def read_manifest(fs, out_dir: str) -> dict | None:
    path = posixpath.join(out_dir, MANIFEST)
    if not fs.exists(path):
        return None
    try:
        with fs.open(path, "rb") as f:
            m = json.loads(f.read())
    except ValueError as e:
        raise BackfillError(f"{path} is not a readable manifest ({e}); use a new --output folder") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise BackfillError(f"{path} is not a kasuhara backfill manifest; use a new --output folder")
    return m


def write_manifest(fs, out_dir: str, manifest: dict) -> None:
    path = posixpath.join(out_dir, MANIFEST)
    with fs.open(path + ".tmp", "wb") as f:
        f.write((json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    fs.mv(path + ".tmp", path)


def _fingerprint(fmt: str, root: str, chunks: list[Chunk], digests: list[str]) -> str:
    h = hashlib.sha256(fmt.encode())
    for c, d in zip(chunks, digests):
        rel = posixpath.relpath(c.path, root) if root else posixpath.basename(c.path)
        h.update(json.dumps([rel, c.offset, c.length, d]).encode())
    return h.hexdigest()


def _file_sha256(fs, path: str) -> str | None:
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_same_run(manifest: dict, expected: dict, out_dir: str) -> None:
    what = {"input_fingerprint": "the input has changed", "model_version": "the model version differs",
            "partitions": "the number of partitions differs", "config": "the options (policy, cascade, "
            "output format) differ"}
    for key, reason in what.items():
        if manifest.get(key) != expected[key]:
            raise BackfillError(
                f"{out_dir} holds results of another run: {reason} ({manifest.get(key)!r} there, "
                f"{expected[key]!r} now); refusing to mix them: use a new --output folder or remove it")


def _policy_digest(policy: str | None) -> str | None:
    if policy is None:
        return None
    with open(policy, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# -- the run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputPlan:
    chunks: list[Chunk]
    starts: list[int]  # the global index of each chunk's first row; the last entry is the total
    fingerprint: str
    files: list[str]


def scan_input(client: Client, fs, paths: list[str], fmt: str, block_bytes: int = BLOCK_BYTES) -> InputPlan:
    """Hash and count every chunk on the cluster: each chunk's first index and the fingerprint."""
    chunks = plan_chunks(fs, paths, fmt, block_bytes)
    scans = client.gather(client.map(scan_chunk, [fs] * len(chunks), chunks, [fmt] * len(chunks), pure=False))
    root = posixpath.dirname(paths[0]) if len(paths) == 1 else posixpath.commonpath(paths)
    fingerprint = _fingerprint(fmt, root, chunks, [d for d, _ in scans])
    if fmt == "parquet":
        chunks = [Chunk(c.path, row_group=g) for c, (_, counts) in zip(chunks, scans) for g in range(len(counts))]
    counts = [n for _, ns in scans for n in ns]
    return InputPlan(chunks, [0, *itertools.accumulate(counts)], fingerprint,
                     [posixpath.relpath(p, root) if root else posixpath.basename(p) for p in paths])


def _resume_state(out_fs, out_dir: str, output_dir: str, manifest: dict | None, expected: dict) -> dict:
    """The finished partitions a previous run recorded and whose files are intact."""
    if manifest is None:
        out_fs.makedirs(out_dir, exist_ok=True)
        return {}
    _check_same_run(manifest, expected, output_dir)
    return {int(p): info for p, info in manifest["done"].items()
            if _file_sha256(out_fs, posixpath.join(out_dir, info["file"])) == info["sha256"]}


def run(client: Client, input_url: str, output_dir: str, config: Config = Config(),
        partitions: int | None = None, merged: str | None = None, block_bytes: int = BLOCK_BYTES,
        storage_options: dict | None = None, progress=None) -> Outcome:
    """Score ``input_url`` into ``output_dir`` on ``client``'s cluster; resumable (see module)."""
    fs, paths, fmt = list_inputs(input_url, storage_options)
    out_fs, out_dir = fsspec.core.url_to_fs(output_dir, **(storage_options or {}))
    manifest = read_manifest(out_fs, out_dir)
    if manifest is None and out_fs.exists(out_dir) and any(
            PART_FILE.fullmatch(posixpath.basename(p)) for p in out_fs.ls(out_dir, detail=False)):
        raise BackfillError(f"{output_dir} holds part files but no {MANIFEST}; refusing to mix them: "
                            "use a new --output folder")
    ensure_engine_loader(client)
    plan = scan_input(client, fs, paths, fmt, block_bytes)
    total = plan.starts[-1]
    version = client.submit(_model_version, config, pure=False).result()
    if partitions is None:
        partitions = manifest["partitions"] if manifest else max(
            2 * len(client.scheduler_info()["workers"]), math.ceil(total / ROWS_PER_PARTITION))
    if not 1 <= partitions <= 99_999:
        raise BackfillError(f"--partitions must be between 1 and 99999, not {partitions}")
    expected = {"input_fingerprint": plan.fingerprint, "model_version": version, "partitions": partitions,
                "config": {"policy_sha256": _policy_digest(config.policy), "cascade": config.cascade,
                           "output_format": config.output_format}}
    done = _resume_state(out_fs, out_dir, output_dir, manifest, expected)
    manifest = {"format": MANIFEST_FORMAT, "input": input_url, "input_format": fmt, "rows": total,
                "files": plan.files, **expected, "done": {f"{p:05d}": done[p] for p in sorted(done)}}
    write_manifest(out_fs, out_dir, manifest)

    todo = [p for p in range(partitions) if p not in done]
    failed: dict[int, str] = {}
    if todo:
        splits = [client.submit(split_chunk, fs, c, s, partitions, pure=False)
                  for c, s in zip(plan.chunks, plan.starts)]
        futures = {}
        for p in todo:
            pieces = [client.submit(operator.getitem, s, p, pure=False) for s in splits]
            futures[client.submit(score_partition, pieces, p, out_fs, out_dir, config, pure=False)] = p
        for fut in as_completed(list(futures)):
            p = futures[fut]
            try:
                done[p] = fut.result()
            except Exception as e:  # one partition's failure must not lose the others
                failed[p] = f"{type(e).__name__}: {e}"
                if progress:
                    progress(f"partition {p:05d} failed: {failed[p]}")
                continue
            manifest["done"] = {f"{q:05d}": done[q] for q in sorted(done)}
            write_manifest(out_fs, out_dir, manifest)
            if progress:
                progress(f"partition {p:05d} done: {done[p]['rows']} rows ({len(done)}/{partitions} partitions)")
    outcome = Outcome(rows=total, errors=sum(d["errors"] for d in done.values()), partitions=partitions,
                      scored=sorted(set(todo) - set(failed)), skipped=sorted(set(range(partitions)) - set(todo)),
                      failed=failed)
    if merged and not failed:
        merge(out_fs, out_dir, manifest, merged, storage_options)
        outcome.merged = merged
    return outcome


def _part_records(fs, path: str, output_format: str):
    """(index, record line) of a part file, in index order."""
    if output_format == "parquet":
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as f:
            t = pq.read_table(f, columns=["index", "record"])
        yield from zip(t.column("index").to_pylist(), t.column("record").to_pylist())
        return
    with fs.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            yield rec.pop("index"), json.dumps(rec, ensure_ascii=False)


def merge(out_fs, out_dir: str, manifest: dict, target: str, storage_options: dict | None = None) -> None:
    """One JSON Lines file in input order, byte for byte what ``kasuhara score`` would write."""
    fmt = manifest["config"]["output_format"]
    parts = [_part_records(out_fs, posixpath.join(out_dir, info["file"]), fmt)
             for _, info in sorted(manifest["done"].items())]
    with fsspec.open(target, "w", encoding="utf-8", **(storage_options or {})) as g:
        for _, line in heapq.merge(*parts):
            g.write(line + "\n")


def open_client(scheduler: str | None, workers: int | None):
    """A client on the given scheduler, or on a local cluster of ``workers`` processes (one
    thread each: scoring is CPU-bound Python). Returns (client, cluster or None)."""
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=None)
    return Client(cluster), cluster


def run_cli(args) -> int:
    """``kasuhara score --engine dask``: the flags of the score subcommand."""
    if args.engine != "dask":
        print("error: --scheduler, --workers, --partitions, --output-format and --merged need --engine dask",
              file=sys.stderr)
        return 2
    if not args.input or args.input == "-":
        print("error: --engine dask needs --input PATH_OR_URL (not stdin)", file=sys.stderr)
        return 2
    if not args.output or args.output == "-":
        print("error: --engine dask needs --output DIR (a folder for part files and the manifest)",
              file=sys.stderr)
        return 2
    local = lambda p: os.path.abspath(p) if p and "://" not in p else p  # noqa: E731
    config = Config(model=local(args.model), policy=local(args.policy), cascade=bool(args.cascade),
                    output_format=args.output_format)
    show = (lambda msg: print(msg, file=sys.stderr)) if (args.progress or sys.stderr.isatty()) else None
    client, cluster = open_client(args.scheduler, args.workers)
    try:
        out = run(client, args.input, args.output, config, partitions=args.partitions, merged=args.merged,
                  progress=show)
    except BackfillError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(json.dumps({"rows": out.rows, "errors": out.errors, "partitions": out.partitions,
                      "scored": len(out.scored), "skipped": len(out.skipped), "failed": len(out.failed),
                      "merged": out.merged}), file=sys.stderr)
    if out.failed:
        print(f"{len(out.failed)} partitions failed ({', '.join(f'{p:05d}' for p in sorted(out.failed))}); "
              "rerun the same command to finish them", file=sys.stderr)
    elif out.errors:
        print(f"{out.errors} of {out.rows} lines could not be scored (error records written in their place)",
              file=sys.stderr)
    return out.exit_code

