import datetime as dt

import pytest

from kasuhara.models.messages import InputError, message_from_dict
from kasuhara.models.policy import PolicyError, ResponsePolicy, load_policy
from kasuhara.models.taxonomy import load_taxonomy

TAX = load_taxonomy()


def test_taxonomy_has_the_fifteen_ids():
    assert len(TAX.ids) == 15
    assert len(TAX.conduct_ids) == 12 and len(TAX.demand_ids) == 3
    with pytest.raises(ValueError):
        TAX.order(["insult", "nope"])


@pytest.mark.parametrize("obj,code", [
    ([], "invalid_type"),
    ({"id": "x"}, "missing_text"),
    ({"text": 12}, "invalid_text"),
    ({"text": "   "}, "empty_text"),
    ({"text": "a" * 100_001}, "text_too_long"),
    ({"text": "a", "received_at": "yesterday"}, "invalid_received_at"),
    ({"text": "a", "channel": "fax"}, "invalid_channel"),
    ({"text": "a", "customer_id": 5}, "invalid_customer_id"),
    ({"text": "a\ud800"}, "invalid_unicode"),
])
def test_bad_messages_get_clear_codes(obj, code):
    with pytest.raises(InputError) as e:
        message_from_dict(obj)
    assert e.value.code == code


def test_good_message_parses_time_as_aware():
    m = message_from_dict({"text": "こんにちは", "received_at": "2026-10-01T10:00:00", "channel": "chat"})
    assert m.received_at.utcoffset() == dt.timedelta(hours=9)


def test_default_policy_recommends_by_label():
    p = load_policy(None, TAX.ids)
    acts = p.actions(["threat"], True, "critical", 0.0, TAX.demand_ids)
    assert "上長へ即時エスカレーション" in acts and any("ケア" in a for a in acts)
    calm = p.actions(["demand_compensation"], False, "none", 0.0, TAX.demand_ids)
    assert any("理性的に対話" in a for a in calm)
    assert p.actions([], False, "none", 0.0, TAX.demand_ids) == ["通常対応"]


@pytest.mark.parametrize("raw", [
    {"rules": [{"when": {"labels_any": ["nope"]}, "actions": ["x"]}]},
    {"rules": [{"when": {"colour": "red"}, "actions": ["x"]}]},
    {"rules": [{"when": {"harassment": True}, "actions": "x"}]},
    {"rules": "x"},
])
def test_bad_policies_are_refused(raw):
    with pytest.raises(PolicyError):
        ResponsePolicy.from_dict(raw, TAX.ids)


def test_policy_file_errors_are_policy_errors(tmp_path):
    p = tmp_path / "p.json"
    p.write_text("{not json", "utf-8")
    with pytest.raises(PolicyError):
        load_policy(p, TAX.ids)
