import datetime as dt

from kasuhara.models.persistence import HistoryItem, summarize

JST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 10, 10, 12, 0, tzinfo=JST)


def ago(**kw):
    return NOW - dt.timedelta(**kw)


def test_no_history_is_zero():
    s = summarize([], NOW)
    assert (s.messages_24h, s.messages_7d, s.persistence) == (0, 0, 0.0)


def test_counts_windows_and_ignores_later_messages():
    hist = [HistoryItem(ago(hours=1)), HistoryItem(ago(hours=30)), HistoryItem(ago(days=9)),
            HistoryItem(NOW + dt.timedelta(hours=1))]
    s = summarize(hist, NOW)
    assert (s.messages_24h, s.messages_7d) == (1, 2)


def test_a_single_follow_up_is_not_persistence():
    s = summarize([HistoryItem(ago(days=3))], NOW, ["demand_exchange"])
    assert s.persistence < 0.2


def test_many_messages_with_the_same_demand_score_high():
    hist = [HistoryItem(ago(hours=h), ("demand_compensation",), 0.3) for h in (1, 3, 5, 8, 20)]
    s = summarize(hist, NOW, ["demand_compensation"], 0.5)
    assert s.repeated_demand
    assert s.persistence > 0.8


def test_score_grows_with_frequency():
    few = summarize([HistoryItem(ago(hours=h)) for h in (2, 5)], NOW).persistence
    many = summarize([HistoryItem(ago(hours=h)) for h in range(1, 9)], NOW).persistence
    assert 0 <= few < many <= 1


def test_escalation_needs_rising_risk():
    rising = [HistoryItem(ago(days=2), (), 0.1), HistoryItem(ago(days=1), (), 0.3)]
    assert summarize(rising, NOW, (), 0.8).escalation
    assert not summarize(rising, NOW, (), 0.2).escalation
