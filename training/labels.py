"""Labels in and out for the analysts' loop.

Out: Label Studio tasks (``data`` + ``predictions``) and the labelling config for the 15
taxonomy ids (Japanese labels shown, ids stored through ``alias``; span labels for evidence).
In: Label Studio JSON exports (tasks with ``annotations``; cancelled ones skipped), JSON-MIN,
plain CSV and JSON Lines, and agent feedback (already joined to its text by the caller).
Conflicts (the same text with different labels from different annotators or sources, or with
labels other than the base corpus's) are reported, never silently resolved.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ..models.taxonomy import Taxonomy, load_taxonomy

CHOICES = "labels"  # from_name of the Choices control (message-level labels)
SPANS = "evidence"  # from_name of the span Labels control
TEXT = "text"  # to_name: the Text object
RESOLVE_POLICIES = ("majority", "latest")
LABEL_SPLIT = re.compile(r"[,;|、，/\s]+")
TRUE_CELLS = {"1", "true", "yes", "y", "x", "○", "◯", "✓", "はい"}


class LabelError(ValueError):
    """An input file that cannot be read as labels (the message says where)."""


@dataclass(frozen=True)
class Annotation:
    """One verdict on one text: by one annotator (or agent, or a file's author)."""
    text: str
    labels: tuple[str, ...]  # taxonomy ids, canonical order
    source: str  # labelstudio | csv | jsonl | feedback
    annotator: str
    id: str | None = None
    created_at: str | None = None
    evidence: tuple[dict, ...] = ()
    extra: dict = field(default_factory=dict)  # subject, channel, customer_id, received_at

    @property
    def key(self) -> str:
        return text_key(self.text)


@dataclass
class Conflict:
    key: str
    id: str | None
    text: str
    kind: str  # annotators | base_corpus
    votes: list[dict]  # {"annotator", "source", "labels"}

    def as_dict(self) -> dict:
        return {"key": self.key, "id": self.id, "kind": self.kind, "votes": self.votes, "text": self.text}


@dataclass
class MergeResult:
    records: list[dict]
    conflicts: list[Conflict]
    dropped: Counter  # reason -> count


def text_key(text: str) -> str:
    """The identity of a message for matching across sources: NFKC, whitespace collapsed."""
    norm = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
    return hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


# -- Label Studio: config and tasks -----------------------------------------------------------
def labelling_config(tax: Taxonomy | None = None, spans: bool = True) -> str:
    """The Label Studio labelling config: the message, a multiple-choice list of the 15
    categories (Japanese shown, the id stored via ``alias``, the guideline wording as hint) and,
    optionally, span labels to mark the evidence."""
    tax = tax or load_taxonomy()
    lines = ["<View>",
             '  <Header value="カスタマーハラスメント判定: 該当するカテゴリをすべて選んでください（なければ何も選ばずに送信）"/>',
             '  <Text name="subject" value="$subject"/>',
             f'  <Text name={quoteattr(TEXT)} value="$text"/>']
    for group, title in (("conduct", "言動（カスハラ）"), ("demand", "要求（それだけではカスハラではない）")):
        lines.append(f"  <Header value={quoteattr(title)}/>")
        lines.append(f'  <Choices name={quoteattr(CHOICES + "_" + group)} toName={quoteattr(TEXT)} '
                     'choice="multiple" showInline="true">')
        for c in tax.categories:
            if c.group == group:
                lines.append(f"    <Choice value={quoteattr(c.ja)} alias={quoteattr(c.id)} hint={quoteattr(c.guideline)}/>")
        lines.append("  </Choices>")
    if spans:
        lines.append('  <Header value="根拠の箇所（任意）"/>')
        lines.append(f"  <Labels name={quoteattr(SPANS)} toName={quoteattr(TEXT)}>")
        for c in tax.categories:
            lines.append(f"    <Label value={quoteattr(c.ja)} alias={quoteattr(c.id)} hint={quoteattr(c.guideline)}/>")
        lines.append("  </Labels>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def to_task(item: dict, result: dict | None, reason: str, tax: Taxonomy | None = None) -> dict:
    """One Label Studio task for ``item`` ({"id", "text", "subject"?}); ``result``: the engine's
    result for it, sent as the prediction (pre-annotation) with its model version."""
    tax = tax or load_taxonomy()
    data = {"text": item["text"], "subject": item.get("subject") or "", "kasuhara_id": item.get("id"),
            "selection": reason}
    task: dict = {"data": data}
    if result is not None:
        data.update({"model_labels": ", ".join(tax.get(l).ja for l in result["labels"]),
                     "risk": result["risk"], "level": result["level"]})
        res = []
        for group in ("conduct", "demand"):
            chosen = [l for l in result["labels"] if tax.get(l).group == group]
            if chosen:
                res.append({"id": f"p-{group}", "from_name": f"{CHOICES}_{group}", "to_name": TEXT,
                            "type": "choices", "value": {"choices": chosen}})
        for k, e in enumerate(result.get("evidence", [])):
            res.append({"id": f"p-ev{k}", "from_name": SPANS, "to_name": TEXT, "type": "labels",
                        "value": {"start": e["start"], "end": e["end"], "text": e["text"],
                                  "labels": [tax.get(e["label"]).ja]}})
        task["predictions"] = [{"model_version": result["model_version"], "score": result["risk"], "result": res}]
    return task


# -- reading labels ---------------------------------------------------------------------------
def label_lookup(tax: Taxonomy | None = None) -> dict[str, str]:
    """id, Japanese label and English label (any case) -> id."""
    tax = tax or load_taxonomy()
    out = {}
    for c in tax.categories:
        for name in (c.id, c.ja, c.en):
            out[name.casefold()] = c.id
    return out


def _ids(names, lookup: dict[str, str], where: str) -> tuple[str, ...]:
    ids = set()
    for n in names:
        n = str(n).strip()
        if not n:
            continue
        if n.casefold() not in lookup:
            raise LabelError(f"{where}: unknown label {n!r} (use the taxonomy ids or their Japanese labels)")
        ids.add(lookup[n.casefold()])
    return tuple(i for i in dict.fromkeys(lookup.values()) if i in ids)


def _extra(d: dict) -> dict:
    return {k: d[k] for k in ("subject", "channel", "customer_id", "received_at") if d.get(k)}


def _as_list(v) -> list:
    """A choices / labels value: a list, or one name given as a plain string."""
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v) if isinstance(v, list) else [str(v)]


def _ls_result(result: list, lookup: dict, where: str) -> tuple[tuple[str, ...], tuple[dict, ...]]:
    if not isinstance(result or [], list) or not all(isinstance(r, dict) for r in result or []):
        raise LabelError(f"{where}: an annotation's 'result' must be a list of objects (a Label Studio JSON export)")
    names, spans = [], []
    for r in result or []:
        value = r.get("value") if isinstance(r.get("value"), dict) else {}
        if r.get("type") == "choices" or "choices" in value:
            names.extend(_as_list(value.get("choices")))
        elif r.get("type") == "labels" or "labels" in value:
            ids = _ids(_as_list(value.get("labels")), lookup, where)
            names.extend(ids)
            for i in ids:
                spans.append({"label": i, "start": value.get("start"), "end": value.get("end"),
                              "text": value.get("text")})
    return _ids(names, lookup, where), tuple(spans)


def _who(ann: dict) -> str:
    by = ann.get("completed_by")
    if isinstance(by, dict):
        by = by.get("email") or by.get("id")
    return str(by) if by is not None else "unknown"


def parse_labelstudio(tasks: list, where: str, lookup: dict | None = None) -> tuple[list[Annotation], Counter]:
    """Annotations from a Label Studio JSON export (tasks with ``annotations``)."""
    lookup = lookup or label_lookup()
    if not isinstance(tasks, list):
        raise LabelError(f"{where}: expected a list of tasks (a Label Studio JSON export)")
    out, skipped = [], Counter()
    for n, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise LabelError(f"{where}: task {n}: not an object")
        here = f"{where}: task {task.get('id', n)}"
        data = task.get("data") or {}
        if not isinstance(data, dict):
            raise LabelError(f"{here}: 'data' must be an object with 'text'")
        text = data.get(TEXT)
        if not isinstance(text, str) or not text.strip():
            raise LabelError(f"{here}: data.text is missing")
        anns = task.get("annotations") or []
        if not isinstance(anns, list) or not all(isinstance(a, dict) for a in anns):
            raise LabelError(f"{here}: 'annotations' must be a list of objects (a Label Studio JSON export)")
        if not anns:
            skipped["not annotated"] += 1
        for ann in anns:
            if ann.get("was_cancelled"):
                skipped["cancelled annotation"] += 1
                continue
            labels, spans = _ls_result(ann.get("result"), lookup, here)
            out.append(Annotation(text=text, labels=labels, source="labelstudio", annotator=_who(ann),
                                  id=data.get("kasuhara_id") or f"ls-{task.get('id', n)}",
                                  created_at=ann.get("updated_at") or ann.get("created_at"),
                                  evidence=spans, extra=_extra(data)))
    return out, skipped


def _min_value(v) -> list:
    """A JSON-MIN cell: "x", ["x", "y"], {"choices": [...]} or a list of span dicts."""
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        return _as_list(v.get("choices") or v.get("labels"))
    if isinstance(v, list):
        names = []
        for x in v:
            names.extend(_as_list(x.get("labels") or x.get("choices")) if isinstance(x, dict) else [x])
        return names
    return [v]


def _cell(v):
    """A CSV cell of Label Studio's export: a plain choice, or JSON ({"choices": [...]}, a list)."""
    if isinstance(v, str) and v.strip()[:1] in ("{", "["):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v or None


def parse_json_min(items: list, where: str, lookup: dict | None = None) -> list[Annotation]:
    """Annotations from a Label Studio JSON-MIN export (one flat object per annotation)."""
    lookup = lookup or label_lookup()
    if not isinstance(items, list):
        raise LabelError(f"{where}: expected a list of items (a Label Studio JSON-MIN export)")
    out = []
    for n, it in enumerate(items):
        here = f"{where}: item {n + 1}"
        if not isinstance(it, dict):
            raise LabelError(f"{here}: not an object")
        text = it.get(TEXT)
        if not isinstance(text, str) or not text.strip():
            raise LabelError(f"{here}: 'text' is missing")
        names = []
        spans = []
        for k, v in it.items():
            if k == CHOICES or k.startswith(CHOICES + "_"):
                names.extend(_min_value(v))
            elif k == SPANS:
                if not isinstance(v or [], list):
                    raise LabelError(f"{here}: 'evidence' must be a list of spans")
                if not all(isinstance(s, dict) for s in v or []):
                    raise LabelError(f"{here}: each 'evidence' entry must be an object "
                                     "({\"start\", \"end\", \"text\", \"labels\"})")
                for s in v or []:
                    for i in _ids(_min_value([s]), lookup, here):
                        spans.append({"label": i, "start": s.get("start"), "end": s.get("end"), "text": s.get("text")})
                        names.append(i)
        out.append(Annotation(text=text, labels=_ids(names, lookup, here), source="labelstudio",
                              annotator=str(it.get("annotator", "unknown")),
                              id=it.get("kasuhara_id") or (f"ls-{it['id']}" if "id" in it else None),
                              created_at=it.get("updated_at") or it.get("created_at"), evidence=tuple(spans),
                              extra=_extra(it)))
    return out


def parse_plain(rows: list[dict], where: str, source: str, lookup: dict | None = None,
                tax: Taxonomy | None = None) -> list[Annotation]:
    """Rows of CSV or JSON Lines: ``text`` and either ``labels`` (a list, or ids / Japanese labels
    separated by , ; | 、) or one column per taxonomy id holding 1/0; optional ``id``,
    ``annotator``, ``created_at``."""
    tax = tax or load_taxonomy()
    lookup = lookup or label_lookup(tax)
    if not isinstance(rows, list):
        raise LabelError(f"{where}: expected a list of rows")
    out = []
    for n, row in enumerate(rows):
        here = f"{where}: {'line' if source == 'jsonl' else 'row'} {n + 2 if source == 'csv' else n + 1}"
        if not isinstance(row, dict):
            raise LabelError(f"{here}: not an object")
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise LabelError(f"{here}: 'text' is missing or empty")
        if "labels" in row:
            raw = row["labels"]
            names = raw if isinstance(raw, list) else LABEL_SPLIT.split(str(raw or ""))
        elif any(i in row for i in tax.ids):
            names = [i for i in tax.ids if str(row.get(i) or "").strip().casefold() in TRUE_CELLS]
        elif any(k.startswith(CHOICES + "_") for k in row):  # Label Studio's CSV export of our config
            names = [n for k, v in row.items() if k.startswith(CHOICES + "_") for n in _min_value(_cell(v))]
        else:
            raise LabelError(f"{here}: no 'labels' column and no column per taxonomy id")
        out.append(Annotation(text=text, labels=_ids(names, lookup, here), source=source,
                              annotator=str(row.get("annotator") or f"file:{Path(where).name}"),
                              id=row.get("kasuhara_id") or row.get("id") or None,
                              created_at=row.get("created_at") or None,
                              extra=_extra(row)))
    return out


def annotated_rows(rows: list) -> tuple[list, Counter]:
    """Rows of a Label Studio JSON-MIN or CSV export without its unannotated tasks (exported
    with an empty ``annotation_id`` when all tasks are exported): they carry no verdict, and
    must not be read as "no category"."""
    keep = [r for r in rows if not (isinstance(r, dict) and "annotation_id" in r and r["annotation_id"] in (None, ""))]
    skipped = Counter({"not annotated": len(rows) - len(keep)}) if len(keep) < len(rows) else Counter()
    return keep, skipped


def read_annotations(path: str | Path) -> tuple[list[Annotation], Counter]:
    """Any supported file, by extension and content: .csv, .jsonl, .json (a Label Studio JSON
    export, or JSON-MIN)."""
    p = Path(path)
    if not p.is_file():
        raise LabelError(f"{p}: no such file")
    try:
        raw = p.read_text("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LabelError(f"{p}: not UTF-8 text (byte {e.start}); save it as UTF-8 "
                         "(Excel: 「CSV UTF-8」)") from None
    if p.suffix.lower() == ".csv":  # quoted cells may hold line breaks: the csv module splits the lines
        rows, skipped = annotated_rows(list(csv.DictReader(io.StringIO(raw, newline=""))))
        return parse_plain(rows, str(p), "csv"), skipped
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for no, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise LabelError(f"{p}: line {no}: not JSON ({e.msg})") from None
        return parse_plain(rows, str(p), "jsonl"), Counter()
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as e:
        raise LabelError(f"{p}: not JSON ({e.msg}); expected a Label Studio export, .csv or .jsonl") from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise LabelError(f"{p}: expected a JSON list of Label Studio tasks")
    if any("annotations" in x or "data" in x for x in items):
        return parse_labelstudio(items, str(p))
    rows, skipped = annotated_rows(items)
    return parse_json_min(rows, str(p)), skipped


# -- merging, conflicts -----------------------------------------------------------------------
def _votes(anns: list[Annotation]) -> list[Annotation]:
    """One vote per (source, annotator): their latest annotation."""
    latest: dict[tuple, Annotation] = {}
    for a in anns:
        k = (a.source, a.annotator)
        if k not in latest or (a.created_at or "") >= (latest[k].created_at or ""):
            latest[k] = a
    return list(latest.values())


def _majority(votes: list[tuple[str, ...]], order: tuple[str, ...]) -> tuple[str, ...] | None:
    counts = Counter(l for v in votes for l in v)
    n = len(votes)
    if any(2 * c == n for c in counts.values()):
        return None  # a tie on some label: undecided
    return tuple(l for l in order if 2 * counts[l] > n)


def merge(annotations: list[Annotation], base: dict[str, dict] | None = None,
          held_out: set[str] | None = None, resolve: str | None = None,
          tax: Taxonomy | None = None) -> MergeResult:
    """Training records from annotations. ``base``: text key -> record of the base training
    corpus; ``held_out``: text keys of the dev/test splits (never added: they would leak into
    evaluation). Items whose annotators disagree are conflicts, left out unless ``resolve`` is
    "majority" (each label needs more than half of the votes; a tie stays a conflict) or
    "latest" (the most recent annotation wins). Disagreeing with the base corpus is always a
    conflict left out: fix the corpus or the annotation."""
    if resolve is not None and resolve not in RESOLVE_POLICIES:
        raise LabelError(f"unknown --resolve policy {resolve!r}; choose from {', '.join(RESOLVE_POLICIES)}")
    tax = tax or load_taxonomy()
    conduct = set(tax.conduct_ids)
    base, held_out = base or {}, held_out or set()
    groups: dict[str, list[Annotation]] = defaultdict(list)
    for a in annotations:
        groups[a.key].append(a)
    records, conflicts, dropped = [], [], Counter()
    for key, anns in groups.items():
        votes = _votes(anns)
        first = anns[0]
        rid = next((a.id for a in anns if a.id), None)
        vote_dicts = [{"annotator": v.annotator, "source": v.source, "labels": list(v.labels)} for v in votes]
        if key in held_out:
            dropped["in the dev/test split (would leak into evaluation)"] += 1
            continue
        labels: tuple[str, ...] | None
        if len({v.labels for v in votes}) == 1:
            labels = votes[0].labels
        elif resolve == "majority":
            labels = _majority([v.labels for v in votes], tax.ids)
        elif resolve == "latest":
            labels = max(votes, key=lambda v: v.created_at or "").labels
        else:
            labels = None
        if labels is None:
            conflicts.append(Conflict(key, rid, first.text, "annotators", vote_dicts))
            continue
        if key in base:
            known = tuple(base[key]["labels"])
            if set(known) != set(labels):
                conflicts.append(Conflict(key, base[key].get("id"), first.text, "base_corpus",
                                          vote_dicts + [{"annotator": "base corpus", "source": "corpus",
                                                         "labels": list(known)}]))
            else:
                dropped["already in the base corpus with the same labels"] += 1
            continue
        rec = {"id": rid or f"lbl-{key}", "text": first.text, "labels": list(labels),
               "harassment": any(l in conduct for l in labels),
               "source": "+".join(sorted({v.source for v in votes})),
               "annotators": sorted({v.annotator for v in votes})}
        for a in anns:
            for k, v in a.extra.items():
                rec.setdefault(k, v)
        spans = [e for a in anns for e in a.evidence]
        if spans:
            rec["evidence"] = spans
        records.append(rec)
    return MergeResult(records, conflicts, dropped)


def corpus_keys(records: list[dict]) -> dict[str, dict]:
    return {text_key(r["text"]): r for r in records}


def conflict_table(conflicts: list[Conflict], tax: Taxonomy | None = None) -> str:
    """A terminal table of conflicts: id, kind, each vote (no message text: privacy)."""
    tax = tax or load_taxonomy()
    kind_ja = {"annotators": "アノテーター間の不一致", "base_corpus": "基礎コーパスと不一致"}
    rows = [f"{'id':<24} {'種類':<14} 票（annotator: labels）", "-" * 78]
    for c in conflicts:
        votes = "; ".join(f"{v['annotator']}: {'、'.join(tax.get(l).ja for l in v['labels']) or '（なし）'}"
                          for v in c.votes)
        rows.append(f"{(c.id or c.key)[:24]:<24} {kind_ja[c.kind]:<14} {votes}")
    return "\n".join(rows)


def write_jsonl(records: list[dict], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def validate_records(records: list[dict], where: str, tax: Taxonomy | None = None) -> list[dict]:
    """Labelled records for training: text and known label ids required; ``source`` defaults to
    "added"; ``harassment`` follows the conduct labels."""
    tax = tax or load_taxonomy()
    known, conduct = set(tax.ids), set(tax.conduct_ids)
    out = []
    for n, r in enumerate(records, 1):
        if not isinstance(r, dict) or not isinstance(r.get("text"), str) or not r["text"].strip():
            raise LabelError(f"{where}: line {n}: a labelled record needs 'text'")
        labels = r.get("labels")
        if not isinstance(labels, list) or not all(isinstance(l, str) for l in labels):
            raise LabelError(f"{where}: line {n}: 'labels' must be a list of taxonomy ids")
        if set(labels) - known:
            raise LabelError(f"{where}: line {n}: 'labels' must be a list of taxonomy ids"
                             f" (unknown: {sorted(set(labels) - known)})")
        out.append({**r, "id": r.get("id") or f"lbl-{text_key(r['text'])}", "source": r.get("source") or "added",
                    "harassment": any(l in conduct for l in labels)})
    return out


def added_file(path: str | Path) -> tuple[list[dict], dict]:
    """The records of an extra labelled JSON Lines file and what the model card records of it
    (name, SHA-256, count)."""
    from .corpus import CorpusError, read_jsonl

    try:
        recs = validate_records(read_jsonl(path), str(path))
    except CorpusError as e:
        raise LabelError(str(e)) from None
    return recs, {"file": Path(path).name, "sha256": file_digest(path), "records": len(recs)}
