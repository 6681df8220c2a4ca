"""Label Studio config and tasks, imports of every supported format, conflicts."""
import json
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from kasuhara.models.taxonomy import load_taxonomy
from kasuhara.training.labels import (Annotation, LabelError, added_file, conflict_table, corpus_keys,
                                      labelling_config, merge, parse_json_min, parse_labelstudio, read_annotations,
                                      text_key, to_task)

TAX = load_taxonomy()
TEXT_A = "ふざけるな！土下座しろ。"
TEXT_B = "返金してください。"


def test_labelling_config_offers_the_15_ids_in_japanese():
    root = ET.fromstring(labelling_config())
    choices = root.findall(".//Choice")
    assert [c.get("alias") for c in choices] == list(TAX.conduct_ids) + list(TAX.demand_ids)
    assert {c.get("value") for c in choices} == {c.ja for c in TAX.categories}
    assert all(c.get("hint") for c in choices)
    assert all(cs.get("choice") == "multiple" and cs.get("toName") == "text" for cs in root.findall(".//Choices"))
    assert [l.get("alias") for l in root.findall(".//Labels/Label")] == list(TAX.ids)
    assert ET.fromstring(labelling_config(spans=False)).find(".//Labels") is None


def test_task_carries_the_prediction_and_the_evidence_offsets():
    result = {"labels": ["dogeza", "demand_apology"], "risk": 0.97, "level": "high", "model_version": "v1",
              "evidence": [{"label": "dogeza", "start": 6, "end": 11, "text": "土下座しろ"}]}
    task = to_task({"id": "m1", "text": TEXT_A}, result, "uncertain")
    assert task["data"]["kasuhara_id"] == "m1" and task["data"]["text"] == TEXT_A
    pred = task["predictions"][0]
    assert pred["model_version"] == "v1" and pred["score"] == 0.97
    choices = {r["from_name"]: r["value"]["choices"] for r in pred["result"] if r["type"] == "choices"}
    assert choices == {"labels_conduct": ["dogeza"], "labels_demand": ["demand_apology"]}
    span = next(r["value"] for r in pred["result"] if r["type"] == "labels")
    assert TEXT_A[span["start"]:span["end"]] == span["text"] and span["labels"] == ["土下座の要求"]
    assert "predictions" not in to_task({"id": "m2", "text": TEXT_B}, None, "stratified")


def ls_task(tid, text, *annotations):
    return {"id": tid, "data": {"text": text, "kasuhara_id": f"k{tid}"}, "annotations": list(annotations)}


def choice(*names, frm="labels_conduct"):
    return {"from_name": frm, "to_name": "text", "type": "choices", "value": {"choices": list(names)}}


def test_labelstudio_export_skips_cancelled_and_maps_japanese_and_spans():
    tasks = [
        ls_task(1, TEXT_A, {"completed_by": 7, "result": [choice("土下座の要求"), choice("demand_apology", frm="labels_demand"),
                                                           {"from_name": "evidence", "to_name": "text", "type": "labels",
                                                            "value": {"start": 0, "end": 5, "text": "ふざけるな",
                                                                      "labels": ["侮辱・暴言"]}}]},
                {"completed_by": 8, "was_cancelled": True, "result": [choice("threat")]}),
        ls_task(2, TEXT_B, {"completed_by": {"email": "a@example.jp"}, "result": []}),
        ls_task(3, "未回答のタスク"),
    ]
    anns, skipped = parse_labelstudio(tasks, "export.json")
    assert [(a.id, a.labels, a.annotator) for a in anns] == [
        ("k1", ("insult", "dogeza", "demand_apology"), "7"), ("k2", (), "a@example.jp")]
    assert anns[0].evidence == ({"label": "insult", "start": 0, "end": 5, "text": "ふざけるな"},)
    assert skipped == Counter({"cancelled annotation": 1, "not annotated": 1})


@pytest.mark.parametrize("cell, expected", [
    ("threat", ("threat",)),
    (["脅迫", "insult"], ("threat", "insult")),
    ({"choices": ["Threat", "demand_compensation"]}, ("threat", "demand_compensation")),
    (None, ()),
])
def test_json_min_cells(cell, expected):
    item = {"id": 5, "text": TEXT_A, "annotator": "b@example.jp", "labels_conduct": cell}
    [a] = parse_json_min([item], "min.json")
    assert a.labels == expected and a.annotator == "b@example.jp" and a.id == "ls-5"


def test_unknown_label_is_an_error_that_says_where():
    with pytest.raises(LabelError, match=r"task 4: unknown label 'rude'"):
        parse_labelstudio([ls_task(4, TEXT_A, {"result": [choice("rude")]})], "x.json")


@pytest.mark.parametrize("name, content, expected", [
    ("a.csv", "id,text,labels,annotator\nc1,ふざけるな！土下座しろ。,\"dogeza, insult\",agent-1\nc2,返金してください。,\n",
     [("c1", ("insult", "dogeza"), "agent-1"), ("c2", (), "file:a.csv")]),
    ("b.csv", "text,threat,insult\n晒すぞ,1,\nばか,,○\n", [(None, ("threat",), "file:b.csv"), (None, ("insult",), "file:b.csv")]),
    ("ls.csv", 'id,kasuhara_id,text,labels_conduct,labels_demand,annotator\n'
               '3,k9,晒すぞ,"{""choices"": [""脅迫"", ""insult""]}",交換の要求,z\n',
     [("k9", ("threat", "insult", "demand_exchange"), "z")]),
    ("c.jsonl", '{"id": "j1", "text": "晒すぞ", "labels": ["脅迫"]}\n\n{"text": "ありがとう", "labels": []}\n',
     [("j1", ("threat",), "file:c.jsonl"), (None, (), "file:c.jsonl")]),
    ("d.json", json.dumps([{"id": 1, "text": "晒すぞ", "labels_conduct": "threat", "annotator": "x"}]),
     [("ls-1", ("threat",), "x")]),
])
def test_read_annotations_by_format(tmp_path, name, content, expected):
    p = tmp_path / name
    p.write_text(content, "utf-8")
    anns, _ = read_annotations(p)
    assert [(a.id, a.labels, a.annotator) for a in anns] == expected


@pytest.mark.parametrize("name, content, message", [
    ("e.csv", "text,label\nx,threat\n", "no 'labels' column"),
    ("f.jsonl", '{"text": "x", "labels": []}\nnot json\n', "line 2: not JSON"),
    ("g.json", '{"oops": ', "not JSON"),
    ("h.jsonl", '{"labels": ["threat"]}\n', "'text' is missing"),
])
def test_bad_files_are_clear_errors(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_text(content, "utf-8")
    with pytest.raises(LabelError, match=message):
        read_annotations(p)


def ann(text, labels, who, at=None, source="labelstudio"):
    return Annotation(text=text, labels=tuple(labels), source=source, annotator=who, created_at=at)


# (annotations, resolve) -> labels in the output (None: left out as a conflict)
MERGE_CASES = [
    ([ann(TEXT_A, ["dogeza"], "a"), ann(TEXT_A, ["dogeza"], "b")], None, ["dogeza"]),
    ([ann(TEXT_A, ["dogeza"], "a"), ann(TEXT_A, ["insult"], "b")], None, None),
    ([ann(TEXT_A, ["dogeza"], "a"), ann(TEXT_A, ["dogeza", "insult"], "b"), ann(TEXT_A, ["dogeza"], "c")],
     "majority", ["dogeza"]),
    ([ann(TEXT_A, ["dogeza"], "a"), ann(TEXT_A, ["insult"], "b")], "majority", None),  # a tie stays a conflict
    ([ann(TEXT_A, ["dogeza"], "a", "2026-01-01"), ann(TEXT_A, ["insult"], "b", "2026-02-01")], "latest", ["insult"]),
    # the same annotator changing their mind: only the latest counts, no conflict
    ([ann(TEXT_A, ["dogeza"], "a", "2026-01-01"), ann(TEXT_A, ["insult"], "a", "2026-02-01")], None, ["insult"]),
    # an agent's feedback is a vote like any other
    ([ann(TEXT_A, ["dogeza"], "a"), ann(TEXT_A, [], "agent", source="feedback")], None, None),
]


@pytest.mark.parametrize("anns, resolve, expected", MERGE_CASES)
def test_merge_reports_conflicts_unless_resolved(anns, resolve, expected):
    res = merge(anns, resolve=resolve)
    if expected is None:
        assert res.records == [] and len(res.conflicts) == 1 and res.conflicts[0].kind == "annotators"
    else:
        assert [r["labels"] for r in res.records] == [expected] and res.conflicts == []
        assert res.records[0]["harassment"] is True


def test_merge_against_the_base_corpus_and_held_out_splits():
    base = corpus_keys([{"id": "w-1", "text": TEXT_A, "labels": ["dogeza"]},
                        {"id": "w-2", "text": TEXT_B, "labels": ["demand_compensation"]}])
    anns = [ann(TEXT_A + "\n", ["insult"], "a"),  # same text modulo whitespace, other labels: conflict
            ann(TEXT_B, ["demand_compensation"], "a"),  # already known: dropped
            ann("テストにある文", ["threat"], "a"),  # in dev/test: never added
            ann("新しい文です", [], "a")]
    res = merge(anns, base, held_out={text_key("テストにある文")}, resolve="majority")
    assert [r["text"] for r in res.records] == ["新しい文です"] and res.records[0]["harassment"] is False
    assert [(c.kind, c.id) for c in res.conflicts] == [("base_corpus", "w-1")]
    assert sum(res.dropped.values()) == 2
    table = conflict_table(res.conflicts)
    assert "基礎コーパスと不一致" in table and "侮辱・暴言" in table and TEXT_A not in table  # no text on the terminal


def test_unknown_resolve_policy():
    with pytest.raises(LabelError, match="--resolve"):
        merge([], resolve="coin")


def test_added_file_validates_and_hashes(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_text('{"text": "晒すぞ", "labels": ["threat"]}\n', "utf-8")
    recs, info = added_file(p)
    assert recs[0]["source"] == "added" and recs[0]["harassment"] is True and recs[0]["id"].startswith("lbl-")
    assert info["records"] == 1 and len(info["sha256"]) == 64 and info["file"] == "l.jsonl"
    p.write_text('{"text": "晒すぞ", "labels": ["rude"]}\n', "utf-8")
    with pytest.raises(LabelError, match="unknown"):
        added_file(p)


def test_csv_cells_keep_their_line_breaks(tmp_path):
    """Label Studio's CSV export quotes multi-line texts: the text must come back unchanged, or
    it would no longer match the corpus (a dev/test message would slip into training)."""
    text = "件名：至急\n責任者を出せ。\nふざけるな！"
    p = tmp_path / "ls.csv"
    p.write_text('id,text,labels_conduct,annotator,annotation_id\n'
                 f'1,"{text}",威圧的な言動,a@x.jp,11\n', "utf-8")
    anns, _ = read_annotations(p)
    assert [a.text for a in anns] == [text]
    res = merge(anns, held_out={text_key(text)})
    assert res.records == [] and res.dropped["in the dev/test split (would leak into evaluation)"] == 1


@pytest.mark.parametrize("name, content", [
    ("min.json", json.dumps([{"id": 1, "text": TEXT_A, "labels_conduct": "dogeza", "annotator": 1, "annotation_id": 7},
                             {"id": 2, "text": TEXT_B, "annotator": {}, "annotation_id": None}], ensure_ascii=False)),
    ("ls.csv", f'annotation_id,annotator,id,labels_conduct,text\n7,1,1,dogeza,{TEXT_A}\n,{{}},2,,{TEXT_B}\n'),
])
def test_unannotated_tasks_of_a_labelstudio_export_are_not_read_as_no_category(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content, "utf-8")
    anns, skipped = read_annotations(p)
    assert [(a.text, a.labels) for a in anns] == [(TEXT_A, ("dogeza",))]
    assert skipped["not annotated"] == 1


@pytest.mark.parametrize("content, message", [
    ([{"data": {"text": "x"}, "annotations": "oops"}], "'annotations' must be a list"),
    ([{"data": {"text": "x"}, "annotations": [{"result": "oops"}]}], "'result' must be a list"),
])
def test_malformed_labelstudio_exports_are_clear_errors(tmp_path, content, message):
    p = tmp_path / "x.json"
    p.write_text(json.dumps(content), "utf-8")
    with pytest.raises(LabelError, match=message):
        read_annotations(p)


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    p = tmp_path / "excel.csv"
    p.write_bytes("text,labels\n死ね,insult\n".encode("cp932"))
    with pytest.raises(LabelError, match="not UTF-8"):
        read_annotations(p)


# malformed structures: a LabelError that says where, never an AttributeError / TypeError
@pytest.mark.parametrize("parse, content, message", [
    (parse_labelstudio, [{"data": ["x"], "annotations": []}], r"task 0: 'data' must be an object"),
    (parse_labelstudio, ["not a task"], r"task 0: not an object"),
    (parse_labelstudio, {"data": {"text": "x"}}, r"expected a list of tasks"),
    (parse_json_min, [{"text": TEXT_A, "evidence": ["insult"]}], r"item 1: each 'evidence' entry must be an object"),
    (parse_json_min, [{"text": TEXT_A, "evidence": "insult"}], r"item 1: 'evidence' must be a list"),
    (parse_json_min, [{"text": TEXT_A, "evidence": [{"start": 0, "end": 2, "labels": {"x": 1}}]}],
     r"item 1: unknown label"),
    (parse_json_min, ["not an item"], r"item 1: not an object"),
    (parse_json_min, [{"text": TEXT_A, "labels_conduct": [["threat"]]}], r"item 1: unknown label"),
    (parse_json_min, [{"text": TEXT_A, "labels_conduct": [{"choices": {"a": 1}}]}], r"item 1: unknown label"),
])
def test_malformed_structures_are_label_errors(parse, content, message):
    with pytest.raises(LabelError, match=message):
        parse(content, "x.json")


@pytest.mark.parametrize("records, message", [
    ([{"text": "x", "labels": [{"id": "threat"}]}], r"line 1: 'labels' must be a list of taxonomy ids"),
    ([{"text": "x", "labels": [["threat"]]}], r"line 1: 'labels' must be a list of taxonomy ids"),
])
def test_validate_records_rejects_unhashable_labels(records, message):
    from kasuhara.training.labels import validate_records

    with pytest.raises(LabelError, match=message):
        validate_records(records, "x.jsonl")


def test_json_min_single_label_string_inside_a_dict_is_one_label():
    [a] = parse_json_min([{"text": TEXT_A, "labels_conduct": {"choices": "threat"}}], "min.json")
    assert a.labels == ("threat",)
