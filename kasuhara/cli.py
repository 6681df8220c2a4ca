"""The `kasuhara` command: a thin shell over the same calls the service makes."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from kasuhara import analyst

BATCH = 256


def _open_in(path: str):
    return sys.stdin if path == "-" else open(path, encoding="utf-8", errors="surrogateescape")


def _open_out(path: str):
    return sys.stdout if path == "-" else open(path, "w", encoding="utf-8")


def _error_record(rid, code: str, message: str) -> dict:
    return {"id": rid, "error": {"code": code, "message": message}}


def parse_line(line: str):
    """(Message | None, error record | None) for one JSON Lines input line."""
    from kasuhara.models.messages import InputError, message_from_dict, record_id

    if not line.strip():
        return None, _error_record(None, "empty_line", "the line is empty")
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return None, _error_record(None, "invalid_json", f"line is not valid JSON: {e}")
    except RecursionError:
        return None, _error_record(None, "invalid_json", "line is nested too deeply")
    try:
        return message_from_dict(obj), None
    except InputError as e:
        return None, _error_record(record_id(obj), e.code, e.message)


def score_lines(lines: list[str], keys, engine, progress=None) -> list[dict]:
    """One record per JSON Lines input line (a result or an error record), as ``kasuhara score``
    writes them; the Dask backfill calls the same. Scored in time order (``keys``, e.g. line
    numbers, break ties), so each customer's earlier messages are its history."""
    parsed = [parse_line(line) for line in lines]
    valid = [i for i, (m, _) in enumerate(parsed) if m is not None]
    utc_min = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    valid.sort(key=lambda i: (parsed[i][0].received_at is None, parsed[i][0].received_at or utc_min, keys[i]))
    out: list[dict] = [err for _, err in parsed]
    state: dict = {}
    for k in range(0, len(valid), BATCH):
        chunk = valid[k:k + BATCH]
        for i, r in zip(chunk, engine.score_batch([parsed[i][0] for i in chunk], state)):
            out[i] = r.as_dict()
        if progress:
            progress(min(k + BATCH, len(valid)), len(valid))
    return out


def cmd_score(args) -> int:
    from kasuhara.models.engine import Engine
    from kasuhara.models.messages import InputError, message_from_dict
    from kasuhara.training.train import progress_bar

    if args.engine == "dask" or args.scheduler or args.workers or args.partitions or args.merged \
            or args.output_format != "jsonl":  # partitioned, resumable backfill on a Dask cluster
        from kasuhara.backfill import run_cli

        return run_cli(args)
    cascade = args.cascade if args.cascade is not None else args.text is not None
    engine = Engine.load(args.model, args.policy, cascade=cascade)
    if args.text is not None:
        try:
            msg = message_from_dict({"text": args.text, "subject": args.subject, "id": None})
        except InputError as e:
            print(f"error: {e.message}", file=sys.stderr)
            return 2
        result = engine.score(msg)
        if args.json:
            print(json.dumps(result.as_dict(), ensure_ascii=False, indent=1))
        else:
            print(render(result, engine))
        return 0
    if not args.input:
        print("error: give --text or --input FILE (- for stdin)", file=sys.stderr)
        return 2
    with _open_in(args.input) as f:
        lines = [l.rstrip("\r\n") for l in f]
    show = progress_bar("scoring") if (args.progress or (len(lines) >= 500 and sys.stderr.isatty())) else None
    out = score_lines(lines, range(len(lines)), engine, show)
    failed = sum(1 for rec in out if "error" in rec)
    with _open_out(args.output) as g:
        for rec in out:
            g.write(json.dumps(rec, ensure_ascii=False) + "\n")
    if failed:
        print(f"{failed} of {len(lines)} lines could not be scored (error records written in their place)",
              file=sys.stderr)
    return 1 if failed else 0


def render(result, engine) -> str:
    from kasuhara.models.levels import load_levels

    tax = engine.taxonomy
    lines = [f"レベル: {load_levels()[result.level].badge} ({result.level})   risk {result.risk:.2f}   "
             f"カスハラ: {'はい' if result.harassment else 'いいえ'}   model {result.model_version}"]
    if result.labels:
        lines.append("カテゴリ: " + "、".join(f"{tax.get(l).ja} ({l} {result.scores[l]:.2f})" for l in result.labels))
    for e in result.evidence:
        lines.append(f"  根拠 [{e.label}] {e.start}-{e.end} 「{e.text}」 ({e.explanation})")
    if result.actions:
        lines.append("推奨対応: " + " / ".join(result.actions))
    return "\n".join(lines)


def cmd_train(args) -> int:
    from kasuhara.models import artifact
    from kasuhara.models.engine import Engine
    from kasuhara.training import evaluate as ev
    from kasuhara.training.labels import added_file, text_key
    from kasuhara.training.train import TrainConfig, quick_config, train

    if (args.add or args.quick) and not args.out:  # never over the shipped model by accident
        print("error: give --out DIR: a model with added labels or the quick recipe is a candidate "
              "(`kasuhara models register DIR`), not the shipped model", file=sys.stderr)
        return 2
    cfg = quick_config(args.seed) if args.quick else TrainConfig(seed=args.seed)
    train_recs, dev_recs = ev.load_data(args.train_data), ev.load_data(args.dev_data)
    extra, added = [], []
    for path in args.add or []:
        recs, info = added_file(path)
        extra.extend(recs)
        added.append(info)
        print(f"adding {info['records']} labelled messages from {path}", file=sys.stderr)
    # nothing this run evaluates on (dev, test, the probe) may be trained on, whatever --add or
    # --train-data hold: such records are dropped and counted
    held_out = {text_key(r["text"]) for spec in (args.dev_data, args.test_data, args.probe) if spec
                for r in ev.load_data(spec)}
    kept = [r for r in train_recs + extra if text_key(r["text"]) not in held_out]
    if len(kept) < len(train_recs + extra):
        print(f"left out of training: {len(train_recs) + len(extra) - len(kept)} messages that are also in the "
              "dev, test or probe data", file=sys.stderr)
    if len(kept) < len(extra) + len(train_recs) // 2:
        print("error: the training data is mostly the evaluation data (--train-data, --dev-data, --test-data, "
              "--probe must be different sets)", file=sys.stderr)
        return 2
    model = train(kept, dev_recs, cfg)
    model.card["training_data"].update({"base": {"train": args.train_data, "dev": args.dev_data},
                                        "added": added})
    eng = Engine.from_model(model)
    evals = {"test": args.test_data}
    if args.probe:
        evals["dev-probe"] = args.probe
    for name, spec in evals.items():
        print(f"evaluating on {name} ({spec})", file=sys.stderr)
        rep = ev.run(spec, engine=eng, baselines=not args.no_baselines, train=args.train_data)
        model.card["metrics"][name] = {"table": rep["table"], "systems": rep["systems"]}
        print(f"\n== {name} ==\n{rep['table']}", file=sys.stderr)
    out = artifact.save(model, args.out or artifact.default_model_dir())
    print(f"saved {out} (version {model.version}, data hash {model.card['data_hash']})", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from kasuhara.training import evaluate as ev

    if args.candidate:  # candidate vs serving, with a report folder (kasuhara/analyst.py)
        return analyst.evaluate_candidate(args)

    from kasuhara.models.engine import Engine

    engine = Engine.load(args.model, cascade=args.cascade)
    rep = ev.run(args.data, args.model, args.train, baselines=not args.no_baselines,
                 with_history=args.with_history, engine=engine)
    print(rep["table"])
    if args.json:
        ev.write_report(rep, args.json)
        print(f"JSON report: {args.json}", file=sys.stderr)
    return 0


def cmd_corpus(args) -> int:
    from kasuhara.training import corpus, written_format

    if args.action == "build":
        st = corpus.build()
        print(json.dumps({k: st[k] for k in ("all", "written", "by_source")}, ensure_ascii=False, indent=1))
        return 0
    if args.action == "check":
        return written_format.main(args.files)
    print(json.dumps(corpus.stats(corpus.load_sources()), ensure_ascii=False, indent=1))
    return 0


def cmd_serve(args) -> int:
    import ipaddress
    import logging

    import uvicorn
    from pydantic import ValidationError

    from kasuhara.service.app import create_app
    from kasuhara.service.settings import Settings

    try:
        settings = Settings()
    except ValidationError as e:
        print(f"error: invalid KASUHARA_* settings:\n{e}", file=sys.stderr)
        return 2
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(settings.database_url)
    except ArgumentError:  # not echoed: the URL may hold a password
        print("error: KASUHARA_DATABASE_URL is not a database URL "
              "(e.g. sqlite:///kasuhara.db or postgresql+psycopg://user@host/db)", file=sys.stderr)
        return 2
    if not settings.api_keys:
        try:
            loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            print("error: KASUHARA_API_KEYS is unset (local mode): refusing to listen on "
                  f"{args.host}; set API keys or use a loopback address", file=sys.stderr)
            return 2
        print("warning: KASUHARA_API_KEYS is unset: local mode, no authentication", file=sys.stderr)
    from kasuhara.models import artifact
    from kasuhara.service.reload import serving_model_path

    artifact.load(serving_model_path(settings))  # a missing or corrupt model stops start-up here, clearly
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    workers = args.workers or min(2, os.cpu_count() or 1)
    if workers > 1:  # migrate once here, so the workers do not race on a fresh database's first migration
        from sqlalchemy.exc import SQLAlchemyError

        from kasuhara.service.storage import Store

        try:
            Store(settings.database_url).migrate()
        except SQLAlchemyError as e:  # the workers retry and report it in /readyz
            print(f"warning: the store is not reachable yet ({type(e).__name__}); scoring goes on without it",
                  file=sys.stderr)
    if workers > 1:  # each worker process builds its app from the same environment
        uvicorn.run("kasuhara.service.app:create_app", factory=True, workers=workers, host=args.host,
                    port=args.port, log_level="warning", access_log=False, timeout_keep_alive=5)
    else:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                    access_log=False, timeout_keep_alive=5)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kasuhara", description="Customer-harassment screening for Japanese messages")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score messages (JSON Lines) or one --text")
    s.add_argument("--input", help="JSON Lines file, - for stdin")
    s.add_argument("--output", default="-", help="JSON Lines file, - for stdout (default)")
    s.add_argument("--text", help="score one message and print a readable summary")
    s.add_argument("--subject", help="with --text: the subject line")
    s.add_argument("--json", action="store_true", help="with --text: print the result object")
    s.add_argument("--model", help="model.skops or its folder (default: the shipped model)")
    s.add_argument("--policy", help="response-policy JSON (default: the shipped policy)")
    s.add_argument("--progress", action="store_true", help="always show the progress bar on stderr")
    s.add_argument("--cascade", action=argparse.BooleanOptionalAction, default=None,
                   help="GiNZA analysis of flagged/uncertain messages: adds demands and targets, ~50 ms "
                        "each (default: on for --text, off for --input)")
    s.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="dask: score --input (JSON Lines or Parquet, path/glob/folder/fsspec URL) on a Dask "
                        "cluster into --output DIR (part files + _manifest.json; rerun to resume)")
    s.add_argument("--scheduler", help="with --engine dask: scheduler address (default: a local cluster)")
    s.add_argument("--workers", type=int, default=0,
                   help="with --engine dask: local worker processes (default: one per core)")
    s.add_argument("--partitions", type=int, help="with --engine dask: output partitions (default: by size)")
    s.add_argument("--output-format", choices=("jsonl", "parquet"), default="jsonl",
                   help="with --engine dask: part file format")
    s.add_argument("--merged", help="with --engine dask: also write one JSON Lines file in input order")
    s.set_defaults(func=cmd_score)

    t = sub.add_parser("train", help="train on the corpus split, choose thresholds on dev, save the artifact")
    t.add_argument("--out", help="output folder (default: the package's models/artifacts)")
    t.add_argument("--add", action="append", help="extra labelled JSON Lines to train on (repeatable)")
    t.add_argument("--probe", help="also report metrics on this labelled JSON Lines (never trained on)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-baselines", action="store_true")
    t.add_argument("--quick", action="store_true", help="a small, fast recipe (for trials and tests, not shipping)")
    t.add_argument("--train-data", default="train", help="base training data: train or a JSON Lines path")
    t.add_argument("--dev-data", default="dev", help="threshold-choosing data: dev or a JSON Lines path")
    t.add_argument("--test-data", default="test", help="reported test data: test or a JSON Lines path")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="model and baselines side by side on labelled data")
    e.add_argument("--data", default="test", help="train/dev/test or a JSON Lines path (default: test)")
    e.add_argument("--model", help="model.skops or its folder (default: the shipped model)")
    e.add_argument("--train", default="train", help="training data for the TF-IDF baseline (default: train)")
    e.add_argument("--no-baselines", action="store_true")
    e.add_argument("--with-history", action="store_true", help="use customer_id/received_at history")
    e.add_argument("--cascade", action="store_true", help="evaluate with the GiNZA cascade")
    e.add_argument("--json", help="also write the full report as JSON here")
    analyst.add_evaluate_options(e)
    e.set_defaults(func=cmd_evaluate)

    v = sub.add_parser("serve", help="the HTTP scoring service (settings: KASUHARA_* environment variables)")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--workers", type=int, default=0, help="worker processes (default: up to 2, one per core)")
    v.set_defaults(func=cmd_serve)

    c = sub.add_parser("corpus", help="build the split, check written files, or print counts")
    c.add_argument("action", choices=("build", "check", "stats"))
    c.add_argument("files", nargs="*", help="with check: files (default: every written file)")
    c.set_defaults(func=cmd_corpus)
    analyst.add_parsers(sub)  # labels, models, drift (kasuhara/analyst.py)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from kasuhara.models.artifact import ArtifactError
    from kasuhara.models.policy import PolicyError
    from kasuhara.models.registry import RegistryError
    from kasuhara.training.corpus import CorpusError
    from kasuhara.training.labels import LabelError

    try:
        return args.func(args)
    except (ArtifactError, PolicyError, CorpusError, RegistryError, LabelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a missing file, a folder where a file was meant, no permission ...
        print(f"error: {e.filename}: {e.strerror}" if e.filename else f"error: {e}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:
        print(f"error: an input file is not UTF-8 text (byte {e.start}); save it as UTF-8", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
