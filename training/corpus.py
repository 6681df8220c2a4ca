"""The labelled corpus: hand-written messages plus mapped public data, split by customer.

``build()`` reads ``training/corpus/written/*.txt`` (format: :mod:`written_format`) and the
public sources (:mod:`public`), gives every record a content-derived id, groups records that
must not be separated (same customer / thread, or near-duplicate text), and writes a fixed
``train`` / ``dev`` / ``test`` split to ``training/corpus/data/*.jsonl`` plus ``stats.json``.
The split is a pure function of the texts, so rebuilding gives the same files.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ..models.taxonomy import load_taxonomy
from ..nlp.mail import customer_text
from ..nlp.normalize import normalize
from . import public, written_format

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
WRITTEN_DIR = CORPUS_DIR / "written"
DATA_DIR = CORPUS_DIR / "data"
SPLITS = ("train", "dev", "test")
SPLIT_SHARE = {"train": 0.70, "dev": 0.15, "test": 0.15}
FIELDS = ("id", "text", "labels", "harassment", "channel", "customer_id", "received_at", "source")
CHANNELS = ("email", "web_form", "chat", "phone_memo")
NEAR_DUP_JACCARD = 0.5  # char 5-gram shingles of the normalised customer text
SHINGLE = 5


class CorpusError(ValueError):
    """The corpus sources are inconsistent (bad block, duplicate text, unknown label)."""


def _digest(text: str, n: int = 5) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=n).hexdigest()


def load_written(directory: Path = WRITTEN_DIR) -> list[dict]:
    tax = load_taxonomy()
    out, seen = [], {}
    for path in sorted(directory.glob("*.txt")):
        for line_no, meta, text, err in written_format.parse(str(path)):
            where = f"{path.name}:{line_no}"
            if err:
                raise CorpusError(f"{where}: {err}")
            rid = "w-" + _digest(meta["customer_id"] + "\n" + text)
            if rid in seen:
                raise CorpusError(f"{where}: same customer and text as {seen[rid]}")
            seen[rid] = where
            labels = tax.order(meta["labels"])
            out.append({
                "id": rid,
                "text": text,
                "labels": labels,
                "harassment": any(l in tax.conduct_ids for l in labels),
                "channel": meta["channel"],
                "customer_id": meta["customer_id"],
                "received_at": meta["received_at"],
                "source": "written",
                "hard_negative": meta["hard_negative"],
                "domain": meta.get("domain", ""),
                "note": meta.get("note", ""),
                "origin": where,
            })
    return out


def load_sources() -> list[dict]:
    tax = load_taxonomy()
    records = load_written() + public.load_public(tax.order, set(tax.conduct_ids))
    ids = Counter(r["id"] for r in records)
    dup = [i for i, c in ids.items() if c > 1]
    if dup:
        raise CorpusError(f"duplicate ids: {dup[:5]}")
    return records


def shingles(text: str, k: int = SHINGLE) -> set[str]:
    """Character k-gram shingles of the normalised customer words of ``text``."""
    t = re.sub(r"\s+", "", normalize(customer_text(text).text).text)
    if len(t) < k:
        return {t} if t else set()
    return {t[i:i + k] for i in range(len(t) - k + 1)}


def near_duplicate_pairs(texts: list[str], threshold: float = NEAR_DUP_JACCARD,
                         bands: int = 16, rows: int = 2, seed: int = 13) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) with Jaccard >= threshold, found by MinHash LSH then verified."""
    sets = [shingles(t) for t in texts]
    n_hash = bands * rows
    rng = np.random.default_rng(seed)
    prime = np.uint64((1 << 61) - 1)
    a = rng.integers(1, 1 << 31, n_hash, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, n_hash, dtype=np.uint64)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        if not s:
            continue
        h = np.array([int.from_bytes(hashlib.blake2b(x.encode(), digest_size=4).digest(), "little")
                      for x in s], dtype=np.uint64)
        sig = ((h[:, None] * a[None, :] + b[None, :]) % prime).min(axis=0)
        for band in range(bands):
            buckets[(band, *sig[band * rows:(band + 1) * rows].tolist())].append(i)
    cand = set()
    for members in buckets.values():
        if 1 < len(members) < 200:
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    cand.add((members[x], members[y]))
    out = []
    for i, j in sorted(cand):
        inter = len(sets[i] & sets[j])
        jac = inter / len(sets[i] | sets[j])
        if jac >= threshold:
            out.append((i, j, jac))
    return out


def _groups(records: list[dict], pairs) -> list[int]:
    parent = list(range(len(records)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x, y):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)

    by_customer: dict[str, int] = {}
    for i, r in enumerate(records):
        if r["customer_id"] in by_customer:
            union(i, by_customer[r["customer_id"]])
        else:
            by_customer[r["customer_id"]] = i
    for i, j, _ in pairs:
        union(i, j)
    return [find(i) for i in range(len(records))]


def assign_splits(records: list[dict]) -> list[str]:
    """Split name per record: groups (customer, near-duplicates) stay together; the split of a
    group is a hash of its members' ids, so it does not depend on file order."""
    pairs = near_duplicate_pairs([r["text"] for r in records])
    roots = _groups(records, pairs)
    members: dict[int, list[str]] = defaultdict(list)
    for i, root in enumerate(roots):
        members[root].append(records[i]["id"])
    split_of_root = {}
    for root, ids in members.items():
        u = int(_digest("|".join(sorted(ids)), 8), 16) / float(1 << 64)
        split_of_root[root] = "train" if u < SPLIT_SHARE["train"] else (
            "dev" if u < SPLIT_SHARE["train"] + SPLIT_SHARE["dev"] else "test")
    return [split_of_root[root] for root in roots]


def stats(records: list[dict], splits: list[str] | None = None) -> dict:
    tax = load_taxonomy()
    written = [r for r in records if r["source"] == "written"]

    def count(rs):
        labels = Counter(l for r in rs for l in r["labels"])
        return {
            "messages": len(rs),
            "harassment": sum(r["harassment"] for r in rs),
            "non_harassment": sum(not r["harassment"] for r in rs),
            "hard_negatives": sum(bool(r.get("hard_negative")) for r in rs),
            "labels": {l: labels[l] for l in tax.ids},
            "channels": dict(Counter(r["channel"] for r in rs).most_common()),
        }

    out = {"all": count(records), "written": count(written),
           "by_source": dict(Counter(r["source"] for r in records).most_common())}
    lens = sorted(len(r["text"]) for r in written)
    if lens:
        out["written"]["length"] = {"min": lens[0], "median": lens[len(lens) // 2], "max": lens[-1],
                                    "over_800": sum(l >= 800 for l in lens),
                                    "over_1500": sum(l >= 1500 for l in lens)}
        out["written"]["domains"] = dict(Counter(r["domain"] for r in written).most_common())
    if splits is not None:
        out["splits"] = {s: count([r for r, sp in zip(records, splits) if sp == s]) for s in SPLITS}
    return out


def build(out_dir: Path = DATA_DIR) -> dict:
    """Rebuild the split files from the sources; returns the stats written beside them."""
    records = load_sources()
    splits = assign_splits(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        with open(out_dir / f"{s}.jsonl", "w", encoding="utf-8") as f:
            for r, sp in zip(records, splits):
                if sp == s:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
    st = stats(records, splits)
    (out_dir / "stats.json").write_text(json.dumps(st, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    card = CORPUS_DIR / "DATA_CARD.md"
    if card.exists():
        card.write_text(_with_counts(card.read_text("utf-8"), st), encoding="utf-8")
    return st


def counts_markdown(st: dict) -> str:
    tax = load_taxonomy()
    w, a = st["written"], st["all"]
    lines = [
        f"Written: **{w['messages']}** messages, {w['harassment']} harassment, {w['non_harassment']} "
        f"non-harassment ({w['non_harassment'] / max(w['messages'], 1):.0%}), of which {w['hard_negatives']} "
        f"hard negatives. With the public rows: {a['messages']} messages "
        f"({', '.join(f'{k} {v}' for k, v in st['by_source'].items())}).",
        "",
        "| label | group | written | all sources | " + " | ".join(SPLITS) + " |",
        "|---|---|---|---|" + "---|" * len(SPLITS),
    ]
    for c in tax.categories:
        sp = " | ".join(str(st["splits"][s]["labels"][c.id]) for s in SPLITS) if "splits" in st else ""
        lines.append(f"| `{c.id}` | {c.group} | {w['labels'][c.id]} | {a['labels'][c.id]} | {sp} |")
    if "splits" in st:
        lines.append("| messages | | {} | {} | {} |".format(
            w["messages"], a["messages"], " | ".join(str(st["splits"][s]["messages"]) for s in SPLITS)))
    lines += ["", "Channels (written): " + ", ".join(f"{k} {v}" for k, v in w["channels"].items()) + "."]
    if "length" in w:
        L = w["length"]
        lines.append(f"Length (written, characters): min {L['min']}, median {L['median']}, max {L['max']}; "
                     f"{L['over_800']} messages of 800+ and {L['over_1500']} of 1,500+.")
    if "domains" in w:
        lines.append("Domains (written): " + ", ".join(f"{k} {v}" for k, v in w["domains"].items()) + ".")
    return "\n".join(lines)


def _with_counts(card: str, st: dict) -> str:
    start, end = "<!-- counts:start -->", "<!-- counts:end -->"
    if start not in card or end not in card:
        return card
    head, rest = card.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{counts_markdown(st)}\n{end}{tail}"


def read_jsonl(path: str | Path) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise CorpusError(f"{path}:{no}: not JSON ({e.msg})") from None
    return out


def load_split(name: str, directory: Path = DATA_DIR) -> list[dict]:
    if name not in SPLITS:
        raise CorpusError(f"unknown split {name!r}; one of {SPLITS}")
    return read_jsonl(directory / f"{name}.jsonl")
