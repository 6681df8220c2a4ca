"""The console and the widget in Chromium against a real server: the queue, filters, masking and
reveal, the feedback round trip, the widget; and the README screenshots (``--screenshots DIR``)."""
from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from .conftest import KEY, SEED, call

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect

LEVEL_TEXT = {"none": "なし", "low": "低", "medium": "中", "high": "高", "critical": "緊急"}


def _ticket_item(page, ticket: str):
    return page.locator("#queue .q-item", has_text=f"チケット {ticket}")


def test_key_is_asked_and_kept_in_session_storage_only(page, server):
    page.goto(server + "/console")
    assert page.get_by_role("heading", name="APIキーを入力してください").is_visible()
    assert KEY not in page.content()
    page.get_by_label("APIキー", exact=True).fill("wrong-key")
    page.get_by_role("button", name="接続").click()
    page.get_by_text("APIキーが正しくありません。").wait_for()
    page.get_by_label("APIキー", exact=True).fill(KEY)
    page.get_by_role("button", name="接続").click()
    page.locator("#queue .q-item").first.wait_for()
    assert page.evaluate("sessionStorage.getItem('kasuhara.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0


def test_queue_shows_every_message_with_icon_and_text_badges(console, server):
    items = console.locator("#queue .q-item")
    assert items.count() == len(SEED)
    _, page = call(server, "GET", "/v1/messages")
    for row in page["items"]:
        item = _ticket_item(console, row["ticket_id"])
        badge = item.locator(".badge")
        assert LEVEL_TEXT[row["level"]] in badge.inner_text()
        assert badge.locator(".badge-icon").inner_text().strip()  # a shape, not colour alone
    # the queue never shows message text
    queue_text = console.locator("#queue").inner_text()
    for _, _, _, text in SEED:
        assert text[:8] not in queue_text


@pytest.mark.parametrize("levels,category,customer,match", [
    (["critical"], None, None, lambda r: r["level"] == "critical"),
    (["high", "critical"], None, None, lambda r: r["level"] in ("high", "critical")),
    ([], "intimidation", None, lambda r: "intimidation" in r["labels"]),
    ([], None, "cust-c", lambda r: r["ticket_id"] in ("T-1003", "T-1004", "T-1005")),
])
def test_filters(console, server, levels, category, customer, match):
    _, everything = call(server, "GET", "/v1/messages")
    wanted = sorted(r["ticket_id"] for r in everything["items"] if match(r))
    assert wanted, "the seed must contain matching messages"
    for lv in levels:
        console.locator(f"#lv-{lv}").check()
    if category:
        console.get_by_label("カテゴリ").select_option(category)
    if customer:
        console.get_by_label("顧客ID").fill(customer)
    console.get_by_role("button", name="絞り込む").click()
    expect(console.locator("#queue .q-item")).to_have_count(len(wanted))
    shown = sorted(re.sub(r"^チケット ", "", t) for t in console.locator("#queue .q-ticket").all_inner_texts())
    assert shown == wanted


def _open(console, ticket):
    _ticket_item(console, ticket).click()
    console.locator("#detail-body .shield").wait_for()


def test_high_and_critical_evidence_is_masked_until_revealed(console, server):
    _, rows = call(server, "GET", "/v1/messages?level=high,critical")
    assert rows["items"]
    for row in rows["items"]:
        _, d = call(server, "GET", f"/v1/messages/{row['id']}")
        _open(console, row["ticket_id"])
        body = console.locator("#detail-body .msg-text")
        evidence_words = [e["text"] for e in d["evidence"] if e["source"] != "history"]
        assert evidence_words
        text_before = body.inner_text()
        assert "■■■" in text_before
        for w in evidence_words:
            assert w not in text_before
        # the warning comes first and names the categories without the words
        summary = console.get_by_test_id("summary").inner_text()
        assert "含まれます" in summary
        for w in evidence_words:
            assert w not in summary
        expect(console.locator("#detail-body .warning")).to_be_visible()  # laid out before it is measured
        expect(body).to_be_visible()
        warning_box = console.locator("#detail-body .warning").bounding_box()
        assert warning_box["y"] < body.bounding_box()["y"]
        reveal = console.get_by_test_id("reveal")
        assert reveal.get_attribute("aria-expanded") == "false"
        reveal.focus()
        console.keyboard.press("Enter")  # keyboard reachable
        assert reveal.get_attribute("aria-expanded") == "true"
        revealed = body.inner_text()
        for w in evidence_words:
            assert w.strip("。") in revealed
        console.locator("#announce", has_text="表示しました").wait_for(state="attached")
        reveal.click()
        assert "■■■" in body.inner_text()


def test_lower_levels_are_not_masked(console, server):
    _open(console, "T-1003")  # medium
    assert console.get_by_test_id("reveal").count() == 0
    assert "責任者を出せ" in console.locator("#detail-body .msg-text").inner_text()


def test_detail_shows_actions_demands_and_history(console):
    _open(console, "T-1005")
    detail = console.locator("#detail-body")
    assert detail.locator(".actions li").count() >= 1
    demands = detail.locator("section", has=console.get_by_role("heading", name="要求", exact=True))
    assert "金銭補償の要求" in demands.inner_text()
    hist = detail.locator("section", has=console.get_by_role("heading", name="顧客の履歴"))
    stats = hist.locator(".stat-value").all_inner_texts()
    assert stats[2] == "3"  # three messages of cust-c within 30 days
    hist.get_by_role("button", name="この顧客のメッセージで絞り込む").click()
    expect(console.locator("#queue .q-item")).to_have_count(3)


def test_feedback_round_trip(console, server):
    _open(console, "T-1002")
    console.get_by_role("button", name="カテゴリを修正…").click()
    console.get_by_label("侮辱・暴言").check()
    console.get_by_label("コメント（任意）").fill("ブラウザテスト")
    with console.expect_request(lambda r: r.url.endswith("/v1/feedback") and r.method == "POST") as sent:
        console.get_by_role("button", name="修正を送信").click()
    console.get_by_test_id("fb-status").filter(has_text="記録しました").wait_for()
    # stored: the detail read back from the server lists it, tied to this message, not the ticket
    _, rows = call(server, "GET", "/v1/messages?ticket_id=T-1002")
    row_id = rows["items"][0]["id"]
    assert sent.value.post_data_json["message"] == row_id and sent.value.post_data_json["ticket_id"] == "T-1002"
    _, d = call(server, "GET", f"/v1/messages/{row_id}")
    fb = d["feedback"][0]
    assert fb["message"] == row_id
    assert fb["labels"] == ["insult", "demand_exchange"] and fb["harassment"] is True
    assert fb["comment"] == "ブラウザテスト" and fb["annotator"] is None  # each agent is their own voter
    console.reload()
    console.locator("#detail-body .shield").wait_for()
    assert console.get_by_test_id("fb-row").count() >= 1
    console.get_by_role("button", name="✓ 判定は正しい").click()
    console.get_by_test_id("fb-status").filter(has_text="記録しました").wait_for()
    _, d = call(server, "GET", f"/v1/messages/{rows['items'][0]['id']}")
    assert d["feedback"][0]["labels"] == d["labels"] and len(d["feedback"]) == 2
    assert [f["message"] for f in d["feedback"]] == [row_id, row_id]
    # a verdict on the whole ticket (an integration that names no message) is marked as such
    assert call(server, "POST", "/v1/feedback", {"ticket_id": "T-1002", "labels": [], "harassment": False})[0] == 201
    console.reload()
    console.locator("#detail-body .shield").wait_for()
    expect(console.get_by_test_id("fb-row")).to_have_count(3)
    assert [("［チケット全体］" in t) for t in console.get_by_test_id("fb-row").all_inner_texts()] == \
        [True, False, False]


def test_drift_panel_hidden_when_the_service_has_no_drift(console, server):
    status, _ = call(server, "GET", "/v1/drift")
    if status == 200:
        expect(console.locator("#drift")).to_be_visible()
    else:
        expect(console.locator("#drift")).to_be_hidden()


def test_widget_shows_the_ticket_masked_with_key_from_the_fragment(page, server):
    page.goto(f"{server}/widget?ticket_id=T-1005#key={KEY}")
    page.get_by_test_id("summary").wait_for()
    assert "#key" not in page.url  # the key leaves the address bar
    assert "緊急" in page.locator(".badge").first.inner_text()
    assert "■■■" in page.locator(".ev-list").inner_text()
    assert "晒" not in page.locator("#widget").inner_text()
    page.get_by_test_id("reveal").click()
    assert "晒" in page.locator(".ev-list").inner_text()
    assert page.locator(".actions li").count() >= 1


def test_widget_with_few_actions_shows_no_stray_text(page, server):
    """A ticket with three actions or fewer has no "more" section, and nothing stands in its place."""
    page.goto(f"{server}/widget?ticket_id=T-1002#key={KEY}")
    page.get_by_test_id("summary").wait_for()
    assert page.locator(".actions li").count() <= 3 and page.locator(".w-more").count() == 0
    assert "null" not in page.locator("#widget").inner_text()


def test_widget_framed_by_the_ticket_system_on_another_site(page, server, embedder):
    """A ticket sidebar frames the widget from another site, where the browser may deny the frame
    any storage: the key from the fragment must still be used."""
    widget = f"{server}/widget?ticket_id=T-1005#key={KEY}"
    page.goto(f"{embedder}/agent/tickets/T-1005?src={urllib.parse.quote(widget, safe='')}")
    frame = page.frame_locator("#w")
    frame.get_by_test_id("summary").wait_for(timeout=10_000)
    assert "■■■" in frame.locator(".ev-list").inner_text()
    frame.get_by_test_id("reveal").click()
    assert "晒" in frame.locator(".ev-list").inner_text()


def test_widget_without_key_or_unknown_ticket(browser, server):
    ctx = browser.new_context(locale="ja-JP")
    pg = ctx.new_page()
    pg.goto(f"{server}/widget?ticket_id=T-1005")
    pg.get_by_text("APIキーが必要です").wait_for()
    pg.goto(f"{server}/widget?ticket_id=NOPE#key={KEY}")
    pg.get_by_text("このチケットはまだ判定されていません。").wait_for()
    ctx.close()


def test_screenshots(request, browser, server):
    out = request.config.getoption("--screenshots")
    if not out:
        pytest.skip("screenshots are written only with --screenshots DIR")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1360, "height": 900},
                              device_scale_factor=1)
    pg = ctx.new_page()
    pg.goto(server + "/console")
    pg.get_by_label("APIキー", exact=True).fill(KEY)
    pg.get_by_role("button", name="接続").click()
    pg.locator("#queue .q-item").first.wait_for()
    _ticket_item(pg, "T-1005").click()
    pg.locator("#detail-body .shield").wait_for()
    pg.screenshot(path=str(out / "console.png"), full_page=True)
    wctx = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 340, "height": 560})
    wp = wctx.new_page()
    wp.goto(f"{server}/widget?ticket_id=T-1006#key={KEY}")
    wp.get_by_test_id("summary").wait_for()
    wp.screenshot(path=str(out / "widget.png"), full_page=True)
    _, url = call(server, "GET", "/v1/tickets/T-1005/badge-url")
    wp.goto(server + url["url"])
    wp.set_viewport_size({"width": 200, "height": 40})
    wp.locator("svg").screenshot(path=str(out / "badge.png"))
    wctx.close()
    ctx.close()


def test_without_stored_text_the_page_says_so_and_still_guides(page, server_without_text):
    page.goto(server_without_text + "/console")
    page.get_by_label("APIキー", exact=True).fill(KEY)
    page.get_by_role("button", name="接続").click()
    expect(page.locator("#text-mode")).to_contain_text("本文保存：無効")  # after the page's fetch
    _ticket_item(page, "T-1005").click()
    notice = page.get_by_test_id("no-text")
    notice.wait_for()
    assert "本文は保存されていません" in notice.inner_text() and "KASUHARA_STORE_TEXT" in notice.inner_text()
    detail = page.locator("#detail-body")
    assert "緊急" in detail.locator(".warning .badge").inner_text()
    assert detail.locator(".actions li").count() >= 1
    assert detail.locator(".chips .cat-chip").count() >= 1
    assert page.get_by_test_id("reveal").count() == 0  # nothing to reveal
    assert "晒" not in detail.inner_text()


def _drift_panel(page, server, drift: dict):
    """The console's drift panel, drawn from ``drift`` as the answer of GET /v1/drift."""
    page.route("**/v1/drift", lambda route: route.fulfill(json=drift))
    page.goto(server + "/console")
    page.get_by_label("APIキー", exact=True).fill(KEY)
    page.get_by_role("button", name="接続").click()
    panel = page.locator("#drift")
    expect(panel).to_be_visible()
    return panel


def test_drift_panel_draws_the_series_and_alerts_when_the_service_has_them(page, server):
    drift = {"bucket": "day", "series": [
        {"start": f"2026-11-{d:02d}T00:00:00+00:00", "messages": 40, "harassment_rate": r, "label_rates": {"insult": r}}
        for d, r in zip(range(24, 29), [0.05, 0.06, 0.04, 0.07, 0.15])],
        "alerts": [{"label": "insult", "message": "侮辱・暴言の割合が上がっています"}]}
    panel = _drift_panel(page, server, drift)
    assert panel.locator("polyline").get_attribute("points").count(",") == 5
    assert "最新 15%" in panel.get_by_role("img").get_attribute("aria-label")
    assert "侮辱・暴言の割合が上がっています" in panel.locator("#drift-alerts").inner_text()


def test_drift_panel_with_a_single_day_draws_a_mark(page, server):
    """The first day of a new installation: one point, which a line alone would not show."""
    drift = {"bucket": "day", "alerts": [], "series": [
        {"start": "2026-11-28T00:00:00+09:00", "messages": 12, "harassment_rate": 0.25, "label_rates": {}}]}
    panel = _drift_panel(page, server, drift)
    assert panel.locator("svg circle").count() == 1
