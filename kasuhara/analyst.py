"""The analysts' commands of the `kasuhara` CLI: labels export/import, models
list/register/promote/rollback, evaluate --candidate (report), drift. This is CLI glue: the
only place where the store (service/) meets training/ and the registry."""
from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path

UTC = dt.timezone.utc


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _guarded(cmd):
    """Run an analyst command; the store, registry and label errors become one clear line."""
    def run(args) -> int:
        from kasuhara.models.registry import RegistryError
        from kasuhara.service.storage import StoreError
        from kasuhara.training.labels import LabelError

        try:
            return cmd(args)
        except (StoreError, RegistryError, LabelError) as e:
            return _err(str(e))
    return run


def _database_url(args) -> str:
    from kasuhara.service.settings import Settings

    return args.database or os.environ.get("KASUHARA_DATABASE_URL") or Settings.model_fields["database_url"].default


def _store(args):
    from sqlalchemy.exc import ArgumentError

    from kasuhara.service.storage import Store, StoreError

    try:
        store = Store(_database_url(args))
    except ArgumentError:  # the URL itself is not echoed: it may hold a password
        raise StoreError("--database / KASUHARA_DATABASE_URL is not a database URL "
                         "(e.g. sqlite:///kasuhara.db or postgresql+psycopg://user@host/db)") from None
    store.ping()
    return store


def _registry(args):
    from kasuhara.models.registry import Registry

    return Registry(args.registry)


def _actor() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"


# -- labels -------------------------------------------------------------------------------------
def _feedback_annotations(rows: list[dict]):
    """Agent feedback rows (joined to their stored text) as annotations; those without text
    are counted, not used."""
    from collections import Counter

    from kasuhara.models.taxonomy import load_taxonomy
    from kasuhara.training.labels import Annotation

    tax = load_taxonomy()
    out, skipped = [], Counter()
    for r in rows:
        if not r["text"]:
            skipped["feedback whose message text is not stored"] += 1
            continue
        try:
            labels = tuple(tax.order(r["labels"]))
        except ValueError:
            skipped["feedback with label ids this taxonomy does not know"] += 1
            continue
        # an agent who gave no name is a voter of their own: two unnamed agents who disagree are a
        # conflict to report, not a "latest wins" of one made-up annotator
        who = r["annotator"] or f"agent (feedback #{r['feedback_id']})"
        out.append(Annotation(text=r["text"], labels=labels, source="feedback",
                              annotator=who, id=r["ticket_id"] or None,
                              created_at=r["created_at"].isoformat()))
    return out, skipped


def cmd_labels_config(args) -> int:
    from kasuhara.training.labels import labelling_config

    text = labelling_config(spans=not args.no_spans)
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, "utf-8")
        print(f"labelling config: {args.out}", file=sys.stderr)
    return 0


def cmd_labels_export(args) -> int:
    from kasuhara.models.engine import Engine
    from kasuhara.models.messages import InputError, message_from_dict
    from kasuhara.training.labels import labelling_config, text_key, to_task
    from kasuhara.training.selection import Candidate, select

    if not args.input and not args.from_store:
        return _err("give --input FILE.jsonl (messages) and/or --from-store")
    items: dict[str, dict] = {}  # text key -> {"item", "feedback"}
    bad = 0
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            for no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    msg = message_from_dict(obj)
                except (json.JSONDecodeError, InputError) as e:
                    print(f"{args.input}:{no}: skipped ({getattr(e, 'message', 'not JSON')})", file=sys.stderr)
                    bad += 1
                    continue
                fb = obj.get("feedback_labels", obj.get("labels"))
                items[text_key(msg.text)] = {"item": {"id": msg.id or f"line-{no}", "text": msg.text,
                                                      "subject": msg.subject},
                                             "feedback": tuple(fb) if isinstance(fb, list) else None}
    if args.from_store:
        store = _store(args)
        for r in store.stored_texts():
            items.setdefault(text_key(r["text"]), {"item": {"id": r["ticket_id"] or f"store-{r['row']}",
                                                            "text": r["text"]}, "feedback": None})
        for fb in store.feedback_with_text():
            if fb["text"]:
                slot = items.setdefault(text_key(fb["text"]), {"item": {"id": fb["ticket_id"] or
                                                                        f"feedback-{fb['feedback_id']}",
                                                                        "text": fb["text"]}, "feedback": None})
                slot["feedback"] = tuple(fb["labels"])
    if not items:
        return _err("no messages to choose from")
    engine = Engine.load(args.model)
    slots = list(items.values())
    print(f"scoring {len(slots)} messages with model {engine.version}", file=sys.stderr)
    msgs = [message_from_dict({k: v for k, v in s["item"].items() if v is not None}) for s in slots]
    results = []
    for k in range(0, len(msgs), 256):
        results.extend(r.as_dict() for r in engine.score_batch(msgs[k:k + 256]))
    cands = [Candidate(s["item"], r, s["feedback"]) for s, r in zip(slots, results)]
    chosen = select(cands, engine.model.thresholds, args.limit, seed=args.seed)
    tasks = [to_task(c.item, c.result, reason, engine.taxonomy) for c, reason in chosen]
    Path(args.out).write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", "utf-8")
    config = Path(args.config_out) if args.config_out else Path(args.out).with_suffix(".labelling.xml")
    config.write_text(labelling_config(engine.taxonomy), "utf-8")
    counts = {r: sum(1 for _, x in chosen if x == r) for r in ("disagreement", "uncertain", "stratified")}
    print(f"{len(tasks)} Label Studio tasks: {args.out} (disagreement {counts['disagreement']}, "
          f"uncertain {counts['uncertain']}, stratified {counts['stratified']}); labelling config: {config}",
          file=sys.stderr)
    return 1 if bad else 0


def cmd_labels_import(args) -> int:
    from collections import Counter

    from kasuhara.training.corpus import load_split
    from kasuhara.training.labels import (LabelError, conflict_table, corpus_keys, merge, read_annotations,
                                          text_key, write_jsonl)

    if not args.files and not args.from_store:
        return _err("give files to import (Label Studio JSON / JSON-MIN, .csv, .jsonl) and/or --from-store")
    anns, skipped = [], Counter()
    try:
        for path in args.files:
            a, s = read_annotations(path)
            anns += a
            skipped += s
            print(f"{path}: {len(a)} annotations", file=sys.stderr)
    except LabelError as e:
        return _err(str(e))
    if args.from_store:
        a, s = _feedback_annotations(_store(args).feedback_with_text())
        anns += a
        skipped += s
        print(f"store feedback: {len(a)} annotations", file=sys.stderr)
    from kasuhara.training.evaluate import load_data

    base = corpus_keys([r for spec in (args.base or ["train"]) for r in load_data(spec)])
    held = {text_key(r["text"]) for name in ("dev", "test") for r in load_split(name)}
    try:
        res = merge(anns, base, held, args.resolve)
    except LabelError as e:
        return _err(str(e))
    write_jsonl(res.records, args.out)
    print(f"{len(res.records)} labelled messages: {args.out}", file=sys.stderr)
    for reason, n in (skipped + res.dropped).items():
        print(f"  left out: {n} ({reason})", file=sys.stderr)
    if res.conflicts:
        cpath = Path(args.conflicts) if args.conflicts else Path(args.out).with_suffix(".conflicts.jsonl")
        write_jsonl([c.as_dict() for c in res.conflicts], cpath)
        print(f"\n{len(res.conflicts)} conflicts, left out of {args.out} "
              f"({'--resolve ' + args.resolve + ' could not decide them' if args.resolve else 'choose --resolve majority|latest, or fix the labels'}); "
              f"details with the texts: {cpath}", file=sys.stderr)
        print(conflict_table(res.conflicts), file=sys.stderr)
    return 0


# -- evaluation of a candidate -----------------------------------------------------------------
def _engine_for(spec: str, args):
    """A model folder / file, a registry version, or "serving" (the registry's current)."""
    from kasuhara.models.engine import Engine

    if spec == "serving":
        return Engine.load(_registry(args).current().path)
    if Path(spec).exists():
        return Engine.load(spec)
    from kasuhara.models.registry import RegistryError

    try:
        return Engine.load(_registry(args).get(spec).path)
    except RegistryError as e:
        raise RegistryError(f"{spec!r} is neither a model folder nor a registry version: {e}") from None


def drift_section(args):
    """(html, plot path) of the drift section from the store, for the report."""
    from kasuhara.models.drift import drift_report
    from kasuhara.training.report import drift_html, plot_drift

    until = dt.datetime.now(UTC)
    since = until - dt.timedelta(days=args.days)
    rep = drift_report(_store(args).scored_rows(since, until), since, until)
    plot = Path(args.report) / "drift.png"
    return drift_html(rep), plot_drift(rep, plot)


def cmd_evaluate_candidate(args) -> int:
    from kasuhara.training import report
    from kasuhara.training.evaluate import load_data

    records = load_data(args.data)
    base = _engine_for(args.baseline, args)
    cand = _engine_for(args.candidate, args)
    print(f"evaluating {cand.version} (candidate) and {base.version} ({args.baseline}) on {args.data} "
          f"({len(records)} messages)", file=sys.stderr)
    sb = report.score_records(base, records, "serving")
    sc = report.score_records(cand, records, "candidate")
    args.report = args.report or str(Path("reports") / f"{cand.version}-vs-{base.version}")
    Path(args.report).mkdir(parents=True, exist_ok=True)
    drift_html, drift_plot = drift_section(args) if args.database else ("", None)
    rep = report.write_report(args.report, sb, sc, args.data, drift_html, drift_plot)
    print(delta_table(rep["comparison"]))
    print(f"report: {Path(args.report) / 'index.html'}", file=sys.stderr)
    return 0


evaluate_candidate = _guarded(cmd_evaluate_candidate)


def delta_table(cmp: dict) -> str:
    from kasuhara.models.taxonomy import load_taxonomy

    tax = load_taxonomy()
    lines = [f"{'label':<22}{'n':>5}{'F1 serving':>12}{'F1 cand.':>10}{'ΔF1':>8}{'ΔAP':>8}", "-" * 65]
    for l, d in cmp["per_label"].items():
        lines.append(f"{l:<22}{d['support']:>5}{d['f1']['baseline']:>12.3f}{d['f1']['candidate']:>10.3f}"
                     f"{d['f1']['delta']:>+8.3f}{d['ap']['delta']:>+8.3f}  {tax.get(l).ja}")
    for k, d in cmp["overall"].items():
        lines.append(f"{k:<27}{d['baseline']:>12.3f}{d['candidate']:>10.3f}{d['delta']:>+8.3f}")
    return "\n".join(lines)


# -- the registry --------------------------------------------------------------------------------
def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return n


def cmd_models(args) -> int:
    if args.action in ("register", "promote") and not args.target:
        what = "a trained model folder" if args.action == "register" else "a version (see `kasuhara models list`) or a folder"
        return _err(f"models {args.action} needs {what}")
    return {"list": _models_list, "register": _models_register, "promote": _models_promote,
            "rollback": _models_rollback}[args.action](args)


def _models_list(args) -> int:
    reg = _registry(args)
    cur = reg.current().version
    print(f"registry: {reg.root}")
    print(f"{'':2}{'version':<24}{'created':<27}{'harassment F1 (test)':>21}  note")
    for v in reg.versions():
        systems = (v.card.get("metrics", {}).get("test") or {}).get("systems") or {}
        m = next((x for k, x in systems.items() if k.startswith("model")), None)
        f1 = f"{m['harassment']['f1']:.3f}" if m else "-"
        mark = "* " if v.version == cur else "  "
        print(f"{mark}{v.version:<24}{v.created:<27}{f1:>21}  {'shipped (base)' if v.shipped else ''}")
    for h in reg.history()[-10:]:
        print(f"  {h['at']} {h['event']} {h['version']}" + (" (forced)" if h.get("forced") else ""))
    return 0


def _models_register(args) -> int:
    v = _registry(args).register(args.target, actor=_actor())
    print(f"registered {v.version}: {v.path}")
    return 0


def _models_promote(args) -> int:
    from kasuhara.models.registry import regressions
    from kasuhara.training import report
    from kasuhara.training.evaluate import load_data

    reg = _registry(args)
    target = args.target
    if Path(target).is_dir():  # a trained folder: register it first
        target = reg.register(target, actor=_actor()).version
    cand_v, serv_v = reg.get(target), reg.current()
    if cand_v.version == serv_v.version:
        return _err(f"{cand_v.version} is already serving")
    from kasuhara.models.engine import Engine

    records = load_data(args.data)
    print(f"comparing {cand_v.version} with the serving {serv_v.version} on {args.data} ({len(records)} messages)",
          file=sys.stderr)
    ms = report.metrics_of(report.score_records(Engine.load(serv_v.path), records, "serving"))
    mc = report.metrics_of(report.score_records(Engine.load(cand_v.path), records, "candidate"))
    worse = regressions(ms, mc, args.tolerance)
    from kasuhara.models.taxonomy import load_taxonomy

    tax = load_taxonomy()
    lines = [r.describe(tax.get(r.label).ja if r.label else None) for r in worse]
    if worse and not args.force:
        print(f"昇格を拒否: 候補 {cand_v.version} は現行 {serv_v.version} より {args.data} で許容幅 {args.tolerance} を超えて"
              f"悪化しています（{len(worse)} 項目）:", file=sys.stderr)
        for line in lines:
            print(f"  - {line}", file=sys.stderr)
        print("それでも昇格するには --force を付けてください。", file=sys.stderr)
        return 1
    detail = {"data": args.data, "tolerance": args.tolerance, "regressions": lines,
              "harassment_f1": {"serving": ms["harassment"]["f1"], "candidate": mc["harassment"]["f1"]}}
    reg.promote(cand_v.version, forced=bool(worse), detail=detail, actor=_actor())
    if worse:
        print(f"forced promotion despite {len(worse)} regressions:", file=sys.stderr)
        for line in lines:
            print(f"  - {line}", file=sys.stderr)
    print(f"promoted {cand_v.version} (was {serv_v.version}); a service with KASUHARA_REGISTRY={reg.root} "
          "switches within its poll interval")
    return 0


def _models_rollback(args) -> int:
    reg = _registry(args)
    was = reg.current().version
    v = reg.rollback(actor=_actor())
    print(f"rolled back to {v.version} (was {was})")
    return 0


# -- drift in the terminal ---------------------------------------------------------------------
def cmd_drift(args) -> int:
    from kasuhara.models.drift import drift_report

    until = dt.datetime.now(UTC)
    since = until - dt.timedelta(days=args.days)
    rep = drift_report(_store(args).scored_rows(since, until), since, until, threshold=args.threshold)
    if args.json:
        print(json.dumps(rep, ensure_ascii=False, indent=1))
        return 0
    print(f"{'day':<12}{'messages':>9}{'harassment':>12}{'risk p50':>10}{'risk p90':>10}")
    for b in rep["series"]:
        print(f"{b['start'][:10]:<12}{b['messages']:>9}{b['harassment_rate']:>12.1%}"
              f"{b['risk_quantiles']['p50']:>10.2f}{b['risk_quantiles']['p90']:>10.2f}")
    for a in rep["alerts"]:
        print(f"⚠ {a['message']}")
    return 0


def add_parsers(sub) -> None:
    """The analysts' subcommands, added to the main parser's subparsers."""
    reg_help = "registry folder (default: $KASUHARA_REGISTRY, else models/registry)"
    db_help = "store URL (default: $KASUHARA_DATABASE_URL)"

    lb = sub.add_parser("labels", help="Label Studio export / import of labels, agent feedback")
    lsub = lb.add_subparsers(dest="labels_action", required=True)
    c = lsub.add_parser("config", help="print the Label Studio labelling config (XML)")
    c.add_argument("--out", help="file (default: stdout)")
    c.add_argument("--no-spans", action="store_true", help="without the evidence span labels")
    c.set_defaults(func=_guarded(cmd_labels_config))
    x = lsub.add_parser("export", help="the messages most worth labelling next, as Label Studio tasks")
    x.add_argument("--input", help="JSON Lines of messages (id, text, subject?, feedback_labels? or labels?)")
    x.add_argument("--from-store", action="store_true", help="stored texts and agent feedback from the store")
    x.add_argument("--database", help=db_help)
    x.add_argument("--out", required=True, help="Label Studio tasks JSON to write")
    x.add_argument("--config-out", help="labelling config XML (default: beside --out)")
    x.add_argument("--limit", type=positive_int, default=200, help="number of tasks (default 200)")
    x.add_argument("--model", help="model to score with (default: the shipped model)")
    x.add_argument("--seed", type=int, default=0)
    x.set_defaults(func=_guarded(cmd_labels_export))
    i = lsub.add_parser("import", help="Label Studio JSON / JSON-MIN, CSV, JSON Lines -> labelled JSON Lines")
    i.add_argument("files", nargs="*")
    i.add_argument("--from-store", action="store_true", help="also agent feedback from the store")
    i.add_argument("--database", help=db_help)
    i.add_argument("--out", required=True, help="labelled JSON Lines (for `kasuhara train --add`)")
    i.add_argument("--resolve", choices=("majority", "latest"),
                   help="decide annotator conflicts (default: leave them out and report them)")
    i.add_argument("--conflicts", help="conflicts JSON Lines (default: beside --out)")
    i.add_argument("--base", action="append",
                   help="labelled data already trained on, to check against: train (the default) or a JSON Lines "
                        "path, e.g. an earlier import; repeatable")
    i.set_defaults(func=_guarded(cmd_labels_import))

    m = sub.add_parser("models", help="model registry: list | register DIR | promote VERSION | rollback")
    m.add_argument("action", choices=("list", "register", "promote", "rollback"))
    m.add_argument("target", nargs="?", help="register: a trained model folder; promote: a version (or folder)")
    m.add_argument("--registry", help=reg_help)
    m.add_argument("--force", action="store_true", help="promote even when worse than the serving model")
    m.add_argument("--tolerance", type=float, default=0.02, help="allowed drop in F1 / rise in FPR (default 0.02)")
    m.add_argument("--data", default="test", help="fixed test data: test or a labelled JSON Lines (default: test)")
    m.set_defaults(func=_guarded(cmd_models))

    d = sub.add_parser("drift", help="label rates and risk per day from the store, with alerts")
    d.add_argument("--database", help=db_help)
    d.add_argument("--days", type=positive_int, default=30)
    d.add_argument("--threshold", type=float, default=0.1)
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_guarded(cmd_drift))


def add_evaluate_options(e) -> None:
    """`kasuhara evaluate --candidate DIR [--baseline serving]`: options of the comparison."""
    e.add_argument("--candidate", help="compare this model (folder, file or registry version) with --baseline")
    e.add_argument("--baseline", default="serving", help="serving (the registry's current), a version or a folder")
    e.add_argument("--report", help="report folder (default: reports/CANDIDATE-vs-BASELINE)")
    e.add_argument("--registry", help="registry folder (default: $KASUHARA_REGISTRY, else models/registry)")
    e.add_argument("--database", help="with --candidate: add a drift section from this store")
    e.add_argument("--days", type=positive_int, default=30, help="drift window in days (default 30)")
