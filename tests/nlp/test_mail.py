import pytest

from kasuhara.nlp.mail import customer_text, parse

EMAIL = """件名：Re: 交換の件

株式会社ミナト理化
カスタマーサポート 御中

お世話になっております。先日は失礼いたしました。
交換の件、よろしくお願いします。

--
山田 太郎
東都大学 理学部
TEL: 03-0000-0000

2026年3月2日(月) 10:15 佐藤 <sato@example.jp> wrote:
> お前みたいな無能は辞めろ
> 返金しろ"""


def roles(text):
    return [(s.role, text[s.start:s.end]) for s in parse(text)]


def test_email_parts_are_separated():
    r = dict((role, t) for role, t in roles(EMAIL))
    assert r["subject"] == "件名：Re: 交換の件"
    assert "御中" in r["addressee"]
    assert r["body"].startswith("お世話になっております")
    assert r["signature"].startswith("--")
    assert "無能" in r["quote"]
    assert "無能" not in customer_text(EMAIL).text


@pytest.mark.parametrize("text,hidden", [
    ("> 前回のメール: お前みたいな無能は辞めろ\n\n先日は失礼いたしました。", "無能"),
    ("いつもお世話になっております。\n-----Original Message-----\nFrom: x\nふざけるな", "ふざけるな"),
    ("承知しました。\n\n---------- Forwarded message ---------\nFrom: 田中\nDate: 2026/3/1\n死ね", "死ね"),
    ("ご確認ください。\n\n2026/03/01 12:00、山田様のメール:\nバカ野郎", "バカ野郎"),
    ("ご確認ください。\nFrom: a@example.jp\nSent: Monday\nTo: b@example.jp\n\n無能な担当", "無能"),
    ("よろしくお願いします。\n＞ 土下座しろ", "土下座"),
])
def test_quoted_and_forwarded_text_is_not_scored(text, hidden):
    assert hidden not in customer_text(text).text


def test_interleaved_reply_keeps_the_new_lines():
    text = "山田様 wrote:\n> 納期はいつですか\n来週の火曜日です。\n> 送料は？\n無料です。"
    view = customer_text(text).text
    assert "来週の火曜日です。" in view and "無料です。" in view
    assert "納期はいつですか" not in view


@pytest.mark.parametrize("text", [
    "ふざけるな！！今すぐ社長を出せ。",
    "【お問い合わせ種別】返品\n【お名前】山田\n【内容】サイズが合いませんでした。",
    "【受電メモ】10/7 14:20\n顧客：佐藤様\n「責任者を出せ」と大声で繰り返し。",
])
def test_plain_messages_are_all_body(text):
    assert customer_text(text).text.replace("\n", "") == text.replace("\n", "")


def test_view_maps_back_to_the_original():
    view = customer_text(EMAIL)
    k = view.text.index("交換の件、")
    s, e = view.original_span(k, k + 5)
    assert EMAIL[s:e] == "交換の件、"


def test_segments_cover_every_nonblank_line_once():
    segs = parse(EMAIL)
    covered = "".join(EMAIL[s.start:s.end] for s in segs).replace("\n", "")
    assert covered == EMAIL.replace("\n", "")


@pytest.mark.parametrize("sep", ["--- 元のメール ---", "--- 転送 ---", "-----Original Message-----(転送)",
                                 "------ Original Message ------", "----- Forwarded Message -----"])
def test_separator_variants_open_a_quote(sep):
    assert customer_text("本文です。\n" + sep + "\nバカ").text == "本文です。"


def test_a_dashed_heading_does_not_hide_what_follows():
    assert "バカ" in customer_text("本文です。\n---- 研究室からのメモ ----\nバカ").text
