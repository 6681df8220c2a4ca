"""The corpus and its fixed split: schema, taxonomy ids, counts, and no leakage across splits."""
from collections import Counter

import pytest

from kasuhara.models.taxonomy import load_taxonomy
from kasuhara.training import corpus

TAX = load_taxonomy()


@pytest.fixture(scope="module")
def splits():
    return {s: corpus.load_split(s) for s in corpus.SPLITS}


@pytest.fixture(scope="module")
def records(splits):
    return [r for s in corpus.SPLITS for r in splits[s]]


def test_schema(records):
    for r in records:
        for f in corpus.FIELDS:
            assert f in r, (r["id"], f)
        assert isinstance(r["text"], str) and r["text"].strip()
        assert r["channel"] in corpus.CHANNELS
        assert isinstance(r["customer_id"], str) and r["customer_id"]
        assert r["source"] in {"written", "jtd", "rtp", "asdc"}
        if r["source"] == "written":
            assert r["received_at"] and "+09:00" in r["received_at"]


def test_labels_are_taxonomy_ids_in_order(records):
    for r in records:
        assert r["labels"] == TAX.order(r["labels"]), r["id"]


def test_harassment_is_any_conduct_label(records):
    for r in records:
        assert r["harassment"] == any(l in TAX.conduct_ids for l in r["labels"]), r["id"]


def test_hard_negatives_are_not_harassment(records):
    assert not [r["id"] for r in records if r.get("hard_negative") and r["harassment"]]


def test_ids_unique(records):
    assert not [i for i, c in Counter(r["id"] for r in records).items() if c > 1]


def test_minimum_counts_of_the_written_part(records):
    written = [r for r in records if r["source"] == "written"]
    assert len(written) >= 5000
    counts = Counter(l for r in written for l in r["labels"])
    short = {l: counts[l] for l in TAX.ids if counts[l] < 200}
    assert not short, f"labels under 200 written positives: {short}"
    non = [r for r in written if not r["harassment"]]
    assert len(non) / len(written) >= 0.55
    assert sum(1 for r in non if r.get("hard_negative")) >= 1000


def test_customers_do_not_cross_splits(splits):
    where = {}
    for s, rs in splits.items():
        for r in rs:
            assert where.setdefault(r["customer_id"], s) == s, r["customer_id"]


def test_no_exact_duplicate_text_across_splits(splits):
    seen = {}
    for s, rs in splits.items():
        for r in rs:
            key = "".join(r["text"].split())
            assert seen.setdefault(key, s) == s, r["id"]


def test_no_near_duplicates_across_splits(records):
    split_of = {}
    for s in corpus.SPLITS:
        for r in corpus.load_split(s):
            split_of[r["id"]] = s
    pairs = corpus.near_duplicate_pairs([r["text"] for r in records])
    crossing = [(records[i]["id"], records[j]["id"], round(jac, 2)) for i, j, jac in pairs
                if split_of[records[i]["id"]] != split_of[records[j]["id"]]]
    assert not crossing, crossing[:5]


def test_split_shares_are_reasonable(splits):
    n = sum(len(v) for v in splits.values())
    for s, share in corpus.SPLIT_SHARE.items():
        assert abs(len(splits[s]) / n - share) < 0.05, (s, len(splits[s]) / n)


def test_split_files_match_the_sources(records):
    """The committed split is what `kasuhara corpus build` makes from the sources."""
    rebuilt = corpus.load_sources()
    assert sorted(r["id"] for r in rebuilt) == sorted(r["id"] for r in records)
    fresh = dict(zip((r["id"] for r in rebuilt), corpus.assign_splits(rebuilt)))
    for s in corpus.SPLITS:
        for r in corpus.load_split(s):
            assert fresh[r["id"]] == s, r["id"]


def test_near_duplicate_detection_finds_an_edited_copy():
    a = "いつもお世話になっております。先日注文した遠心機の件で、まだ修理の日程が決まっておりません。ご確認をお願いします。"
    b = a.replace("遠心機", "恒温槽")
    c = "ふざけるな、さっさと返金しろ。"
    pairs = corpus.near_duplicate_pairs([a, b, c])
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def test_written_format_rejects_bad_blocks(tmp_path):
    from kasuhara.training import written_format

    p = tmp_path / "x.txt"
    p.write_text('### {"labels": ["nope"], "channel": "chat", "customer_id": "x", '
                 '"received_at": "2026-01-01T00:00:00+09:00", "hard_negative": false}\nやあ\n'
                 '### {"labels": ["insult"], "channel": "chat", "customer_id": "x", '
                 '"received_at": "2026-01-01T00:00:00+09:00", "hard_negative": true}\nばか\n', "utf-8")
    errors = [err for _, _, _, err in written_format.parse(str(p))]
    assert errors[0] and "labels" in errors[0]
    assert errors[1] and "hard_negative" in errors[1]
