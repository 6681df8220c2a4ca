"""Public Japanese data mapped into the corpus schema, with the mapping rules written down.

Each source keeps its licence beside the copy in ``training/corpus/public/<name>/`` and is
credited in ``training/corpus/DATA_CARD.md``. None of it is customer mail; it adds real-world
vocabulary (toxic SNS / web text) and real-world negatives (polite booking chats).

Mapping rules (a row that matches no rule is left out, never guessed):

japanese-toxic-dataset (subset.csv, annotator votes):
  * negative (labels []) when a strict majority voted "Not Toxic";
  * positive when a strict majority voted Toxic or Very Toxic, with a category applying when at
    least 2 annotators chose it: 卑語 or 迷惑行為 -> insult, 差別 -> discrimination,
    猥褻 -> sexual; a toxic row with no mapped category (e.g. only 偏向表現) is left out;
  * everything else ("Hard to Say" majorities, split votes) is left out.

RTP-LX ja (mean of 3 annotators; Toxicity 1-5, categories 1-3):
  * positive when Toxicity >= 3: Insult >= 2 -> insult, Violence >= 2 -> violence,
    IdentityAttack >= 2 or Bias >= 2 -> discrimination, SexualContent >= 2 -> sexual;
    a toxic row with none of these is left out;
  * negative when Toxicity <= 1.67 and every category mean < 1.5;
  * everything between is left out.

ASDC dialogs (role-played accommodation booking chats): the customer turns of one dialogue,
joined by newlines, make one negative chat message (the operator turns are left out).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

PUBLIC_DIR = Path(__file__).resolve().parent / "corpus" / "public"


def _record(source: str, rid: str, text: str, labels: list[str], conduct: set[str], channel: str) -> dict:
    return {
        "id": f"{source}-{rid}",
        "text": text,
        "labels": labels,
        "harassment": any(l in conduct for l in labels),
        "channel": channel,
        "customer_id": f"{source}-{rid}",
        "received_at": None,
        "source": source,
        "hard_negative": False,
        "domain": "public_text",
    }


def load_jtd(order, conduct, base: Path = PUBLIC_DIR) -> list[dict]:
    out = []
    with open(base / "japanese-toxic-dataset" / "subset.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            n = int(row["annotation_num"])
            toxic = int(row["Toxic"]) + int(row["Very Toxic"])
            if int(row["Not Toxic"]) * 2 > n:
                labels = []
            elif toxic * 2 > n:
                votes = {k[len("category_"):]: int(v) for k, v in row.items() if k.startswith("category_")}
                labels = set()
                if votes["卑語"] >= 2 or votes["迷惑行為"] >= 2:
                    labels.add("insult")
                if votes["差別"] >= 2:
                    labels.add("discrimination")
                if votes["猥褻"] >= 2:
                    labels.add("sexual")
                if not labels:
                    continue
                labels = order(labels)
            else:
                continue
            text = row["text"].strip()
            if text:
                out.append(_record("jtd", row["id"], text, labels, conduct, "chat"))
    return out


def load_rtp(order, conduct, base: Path = PUBLIC_DIR) -> list[dict]:
    out = []
    with open(base / "rtp-lx-ja" / "rtp_lx_ja.v0.2.train.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            a = row["Annotations"]
            if a["Toxicity"] >= 3:
                labels = set()
                if a["Insult"] >= 2:
                    labels.add("insult")
                if a["Violence"] >= 2:
                    labels.add("violence")
                if a["IdentityAttack"] >= 2 or a["Bias"] >= 2:
                    labels.add("discrimination")
                if a["SexualContent"] >= 2:
                    labels.add("sexual")
                if not labels:
                    continue
                labels = order(labels)
            elif a["Toxicity"] <= 1.67 and all(v < 1.5 for k, v in a.items() if k != "Toxicity"):
                labels = []
            else:
                continue
            text = row["Prompt"].strip()
            if text:
                out.append(_record("rtp", str(row["Index"]), text, labels, conduct, "chat"))
    return out


def load_asdc(order, conduct, base: Path = PUBLIC_DIR) -> list[dict]:
    out = []
    for path in sorted((base / "asdc-dialogs" / "dialogs").glob("*.tsv")):
        turns = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                role, _, text = line.rstrip("\n").partition("\t")
                if role.startswith("customer") and text.strip():
                    turns.append(text.replace("│", "").replace("▁", "").strip())
        if turns:
            out.append(_record("asdc", path.stem, "\n".join(turns), [], conduct, "chat"))
    return out


def load_public(order, conduct, base: Path = PUBLIC_DIR) -> list[dict]:
    """All mapped public records; ``order`` puts labels in taxonomy order."""
    return load_jtd(order, conduct, base) + load_rtp(order, conduct, base) + load_asdc(order, conduct, base)
