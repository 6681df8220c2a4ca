#!/usr/bin/env python3
"""The format of the hand-written corpus files (training/corpus/written/*.txt) and their checker.

Format of a file: blocks, each opened by a header line
    ### {"labels": [...], "channel": "email", "customer_id": "A-c001", "received_at": "2026-03-14T09:12:00+09:00", "domain": "reagents", "hard_negative": false, "note": "..."}
followed by the message text (any number of lines) up to the next header line.

Usage: python3 training/corpus/check_written.py [FILE ...]   (no FILE: every file in written/)
or `kasuhara corpus check [FILE ...]`.
Prints parse errors, counts per label, and sentences (16+ chars, outside `>` quotes) that are
reused across messages, in the given files or against every other file in written/.
Standard library only, so it runs before the project is installed.
"""
import collections, datetime, glob, json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
WRITTEN = os.path.join(HERE, "corpus", "written")
with open(os.path.join(HERE, "..", "models", "data", "taxonomy.json"), encoding="utf-8") as _f:
    _CATS = json.load(_f)["categories"]  # the single source of the ids (stdlib only, no package import)
CONDUCT = [c["id"] for c in _CATS if c["group"] == "conduct"]
DEMAND = [c["id"] for c in _CATS if c["group"] == "demand"]
CHANNELS = {"email", "web_form", "chat", "phone_memo"}
HEADER = re.compile(r"^### (\{.*\})\s*$")
SENT_SPLIT = re.compile(r"(?<=[。！？!?\n])")
MIN_SENT = 16


def parse(path):
    """Yield (line_no, meta, text, error) for every block of a written file."""
    blocks, cur = [], None
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            m = HEADER.match(line)
            if m:
                if cur:
                    blocks.append(cur)
                cur = [no, m.group(1), []]
            elif line.startswith("### "):
                blocks.append([no, None, [line]])
            elif cur is not None:
                cur[2].append(line)
    if cur:
        blocks.append(cur)
    for no, raw, lines in blocks:
        text = "".join(lines).strip("\n").rstrip()
        if raw is None:
            yield no, None, text, "header line is not '### {json}'"
            continue
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError as e:
            yield no, None, text, f"header JSON: {e}"
            continue
        err = validate(meta, text)
        yield no, meta, text, err


def validate(meta, text):
    if not isinstance(meta, dict):
        return "header is not an object"
    labels = meta.get("labels")
    if not isinstance(labels, list) or any(l not in CONDUCT + DEMAND for l in labels):
        return f"labels must be a list of taxonomy ids: {labels!r}"
    if len(set(labels)) != len(labels):
        return "duplicate label"
    if meta.get("channel") not in CHANNELS:
        return f"channel must be one of {sorted(CHANNELS)}"
    if not isinstance(meta.get("customer_id"), str) or not meta["customer_id"]:
        return "customer_id missing"
    try:
        dt = datetime.datetime.fromisoformat(meta.get("received_at", ""))
        if dt.tzinfo is None:
            return "received_at needs a timezone (+09:00)"
    except (TypeError, ValueError):
        return "received_at is not ISO-8601"
    if not isinstance(meta.get("hard_negative"), bool):
        return "hard_negative must be true/false"
    if meta["hard_negative"] and any(l in CONDUCT for l in labels):
        return "hard_negative must be false for a message with a conduct label"
    if not text.strip():
        return "empty text"
    return None


_FURNITURE = re.compile(r"^\s*(?:[-=_~*━─]{2,}.{0,40}|(?:from|to|cc|sent|date|subject|差出人|送信日時|宛先|件名)\s*[:：].*)$", re.I)


def sentences(text):
    for line in text.split("\n"):
        if line.lstrip().startswith((">", "＞")) or _FURNITURE.match(line):
            continue
        for s in SENT_SPLIT.split(line):
            s = re.sub(r"\s+", "", s)
            if len(s) >= MIN_SENT:
                yield s


def main(argv):
    targets = [os.path.abspath(p) for p in argv] or sorted(glob.glob(os.path.join(WRITTEN, "*.txt")))
    everyone = sorted(set(glob.glob(os.path.join(WRITTEN, "*.txt"))) | set(targets))
    seen = collections.defaultdict(list)  # sentence -> [(file, line)]
    counts, n_msgs, n_har, n_hn, errors = collections.Counter(), 0, 0, 0, []
    chans, doms, lens = collections.Counter(), collections.Counter(), []
    for path in everyone:
        mine = path in targets
        for no, meta, text, err in parse(path):
            for s in sentences(text):
                seen[s].append((os.path.basename(path), no, mine))
            if not mine:
                continue
            if err:
                errors.append(f"{os.path.basename(path)}:{no}: {err}")
                continue
            n_msgs += 1
            counts.update(meta["labels"])
            har = any(l in CONDUCT for l in meta["labels"])
            n_har += har
            n_hn += meta["hard_negative"]
            chans[meta["channel"]] += 1
            doms[meta.get("domain", "?")] += 1
            lens.append(len(text))
    dups = [(s, locs) for s, locs in seen.items()
            if len({(f, n) for f, n, _ in locs}) > 1 and any(m for _, _, m in locs)]
    print(f"messages {n_msgs}: harassment {n_har}, non-harassment {n_msgs - n_har} (hard negatives {n_hn})")
    print("labels: " + ", ".join(f"{l} {counts[l]}" for l in CONDUCT + DEMAND if counts[l]))
    print("channels: " + ", ".join(f"{k} {v}" for k, v in chans.most_common()))
    print("domains: " + ", ".join(f"{k} {v}" for k, v in doms.most_common()))
    if lens:
        lens.sort()
        print(f"length: min {lens[0]}, median {lens[len(lens)//2]}, max {lens[-1]}, >=800 chars: {sum(l >= 800 for l in lens)}")
    for e in errors:
        print("ERROR", e)
    for s, locs in dups[:50]:
        print("REUSED", s[:60], "at", ", ".join(f"{f}:{n}" for f, n, _ in locs[:4]))
    if len(dups) > 50:
        print(f"... {len(dups) - 50} more reused sentences")
    return 1 if errors or dups else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
