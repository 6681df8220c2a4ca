/* kasuhara: what the console and the widget share — the API key, calls, badges, the shielded text.
   No framework, no build step. Every piece of message text goes into the page with textContent. */
"use strict";

(function () {
  const KEY_STORE = "kasuhara.apiKey";

  /* -- the API key: sessionStorage only, never in the page or a URL sent to the server -------- */
  // A frame on another site (the widget in a ticket sidebar) may be denied any storage when the
  // browser blocks third-party data: reading sessionStorage then throws, and the key is kept in
  // this page's memory only (the fragment gives it again at every load).
  let memoryKey = "";
  function session(fn) {
    try { return fn(window.sessionStorage); } catch (e) { return null; }
  }
  function getKey() { return session(function (s) { return s.getItem(KEY_STORE); }) || memoryKey; }
  function setKey(k) { memoryKey = k; session(function (s) { s.setItem(KEY_STORE, k); }); }
  function clearKey() { memoryKey = ""; session(function (s) { s.removeItem(KEY_STORE); }); }

  /** #key=… in the URL fragment (the widget's embed URL): keep it, then drop it from the address. */
  function takeKeyFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const k = params.get("key");
    if (k) {
      setKey(k);
      params.delete("key");
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    }
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    const headers = Object.assign({ "Accept": "application/json" }, opts.headers);
    const key = getKey();
    if (key) headers["Authorization"] = "Bearer " + key;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
    }
    let resp;
    try {
      resp = await fetch(path, { method: opts.method || "GET", headers, body: opts.body, cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "network", "サーバーに接続できません");
    }
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      const err = (body && body.error) || {};
      throw new ApiError(resp.status, err.code || "http_error", err.message || resp.statusText);
    }
    return body;
  }

  /* -- the taxonomy and levels, from the server (models/data is their one source) -------------- */
  const meta = { levels: {}, levelOrder: [], categories: {}, categoryOrder: [], storeText: false };

  async function loadMeta() {
    const m = await api("/v1/console/meta");
    m.levels.forEach(function (l) { meta.levels[l.id] = l; meta.levelOrder.push(l.id); });
    m.categories.forEach(function (c) { meta.categories[c.id] = c; meta.categoryOrder.push(c.id); });
    meta.storeText = m.store_text;
    meta.retentionDays = m.retention_days;
    meta.cascade = m.cascade;
    meta.modelVersion = m.model_version;
    return meta;
  }

  /* -- small DOM helpers ---------------------------------------------------------------------- */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) {
      if (v === null || v === undefined || v === false) return;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.append(c instanceof Node ? c : String(c));
    });
    return node;
  }

  const timeFmt = new Intl.DateTimeFormat("ja-JP", { timeZone: "Asia/Tokyo", month: "numeric", day: "numeric",
                                                     hour: "2-digit", minute: "2-digit" });
  function fmtTime(iso) { return iso ? timeFmt.format(new Date(iso)) : "—"; }

  function announce(message) {
    const live = document.getElementById("announce");
    if (live) { live.textContent = ""; setTimeout(function () { live.textContent = message; }, 30); }
  }

  /* -- badges: an icon (shape) and the Japanese level, never colour alone ---------------------- */
  function badge(levelId, size) {
    const l = meta.levels[levelId] || { ja: levelId, icon: "?", description: "" };
    return el("span", { class: "badge level-" + levelId + (size ? " badge-" + size : ""),
                        title: l.description },
              [el("span", { class: "badge-icon", "aria-hidden": "true", text: l.icon }),
               el("span", { class: "sr-only", text: "レベル：" }), l.ja]);
  }

  function categoryName(id) { return (meta.categories[id] || { ja: id }).ja; }

  /** A colour per category (hue spread over the taxonomy order), set through the CSSOM. */
  function paintCategory(node, id) {
    const i = Math.max(0, meta.categoryOrder.indexOf(id));
    const hue = Math.round((i * 360) / Math.max(1, meta.categoryOrder.length) + 10) % 360;
    node.style.setProperty("--cat-h", String(hue));
    return node;
  }

  function categoryChip(id) {
    return paintCategory(el("span", { class: "cat-chip", "data-label": id, text: categoryName(id) }), id);
  }

  function isShielded(levelId) { return Boolean((meta.levels[levelId] || {}).shield); }

  /** Conduct categories first: the summary says what kind of abuse there is, never the words. */
  function summaryLine(d) {
    const conduct = d.labels.filter(function (l) { return (meta.categories[l] || {}).group === "conduct"; });
    const demands = d.labels.filter(function (l) { return (meta.categories[l] || {}).group === "demand"; });
    const spans = d.evidence ? d.evidence.filter(function (e) { return e.source !== "history"; }).length : 0;
    if (conduct.length) {
      let s = "このメッセージには「" + conduct.map(categoryName).join("」「") + "」に当たる表現が含まれます";
      if (spans) s += "（該当 " + spans + " か所）";
      if (demands.length) s += "。要求：" + demands.map(categoryName).join("、");
      return s + "。";
    }
    if (demands.length) return "要求（" + demands.map(categoryName).join("、") + "）を含みますが、不当な言動は見つかりませんでした。";
    return "カスタマーハラスメントの兆候は見つかりませんでした。";
  }

  /* -- the text with evidence: offsets are Python indices (code points), so slice code points ---- */
  function segments(text, evidence) {
    const chars = Array.from(text);
    const cuts = new Set([0, chars.length]);
    evidence.forEach(function (e) { cuts.add(Math.min(e.start, chars.length)); cuts.add(Math.min(e.end, chars.length)); });
    const points = Array.from(cuts).sort(function (a, b) { return a - b; });
    const out = [];
    for (let k = 0; k + 1 < points.length; k++) {
      const s = points[k], t = points[k + 1];
      const labels = evidence.filter(function (e) { return e.start <= s && e.end >= t && e.source !== "history"; })
                             .map(function (e) { return e.label; });
      out.push({ text: chars.slice(s, t).join(""), labels: Array.from(new Set(labels)) });
    }
    return out;
  }

  function maskFor(text) {
    const n = Array.from(text).length;
    return "■".repeat(Math.min(8, Math.max(3, Math.ceil(n / 3))));
  }

  /** Consecutive evidence segments as one run: one category tag and one mask per run. */
  function runs(segs) {
    const out = [];
    let cur = null;
    segs.forEach(function (seg) {
      if (!seg.labels.length) { out.push({ text: seg.text }); cur = null; return; }
      if (!cur) { cur = { parts: [], labels: [] }; out.push(cur); }
      cur.parts.push(seg);
      seg.labels.forEach(function (l) { if (!cur.labels.includes(l)) cur.labels.push(l); });
    });
    return out;
  }

  /**
   * The message text with evidence highlighted per category; in a shielded view the evidence is
   * masked (■■■) until `reveal(true)`. Returns {node, reveal, masked}.
   */
  function evidenceText(text, evidence, shielded) {
    const node = el("div", { class: "msg-text" + (shielded ? " shielded" : ""), lang: "ja" });
    const marks = [];
    runs(segments(text, evidence)).forEach(function (run) {
      if (!run.parts) { node.append(run.text); return; }
      const names = run.labels.map(categoryName).join("・");
      const mark = paintCategory(el("mark", { class: "ev", "data-labels": run.labels.join(",") }), run.labels[0]);
      const words = el("span", { class: "ev-words" }, run.parts.map(function (p) {
        return paintCategory(el("span", { class: "ev-part", text: p.text }), p.labels[0]);
      }));
      const plain = run.parts.map(function (p) { return p.text; }).join("");
      const mask = el("span", { class: "ev-mask", text: maskFor(plain), role: "img", "aria-label": "伏せ字" });
      mark.append(el("span", { class: "ev-tag", text: names }), shielded ? mask : words);
      marks.push({ mark: mark, words: words, mask: mask });
      node.append(mark);
    });
    function reveal(on) {
      marks.forEach(function (m) {
        m.mark.replaceChild(on ? m.words : m.mask, on ? m.mask : m.words);
      });
      node.classList.toggle("revealed", on);
    }
    return { node: node, reveal: reveal, masked: shielded ? marks.length : 0 };
  }

  /** The evidence as a list: category, explanation, and the words (masked when shielded). */
  function evidenceList(evidence, shielded) {
    const list = el("ul", { class: "ev-list" });
    const toggles = [];
    evidence.forEach(function (e) {
      const words = e.text === null || e.text === undefined ? null : e.text;
      let quote = null;
      if (words !== null && e.source !== "history") {
        const shown = el("q", { class: "ev-quote", text: words });
        const mask = el("span", { class: "ev-mask", text: maskFor(words), "aria-label": "伏せ字" });
        quote = el("span", { class: "ev-quote-wrap" }, [shielded ? mask : shown]);
        toggles.push(function (on) { quote.replaceChildren(on ? shown : mask); });
      }
      list.append(el("li", {}, [categoryChip(e.label), " ", quote,
                                el("span", { class: "ev-expl", text: e.explanation || "" })]));
    });
    return { node: list, reveal: function (on) { toggles.forEach(function (t) { t(on); }); } };
  }

  /**
   * The shield: the warning (badge + what kind of abuse, without the words) comes first; the text
   * follows, its evidence masked for shielded levels until the agent presses the reveal button.
   */
  function shieldedMessage(d, opts) {
    const shielded = isShielded(d.level);
    const wrap = el("section", { class: "shield level-" + d.level, "aria-label": "判定と本文" });
    const lv = meta.levels[d.level] || {};
    wrap.append(el("div", { class: "warning", role: shielded ? "alert" : "status" }, [
      badge(d.level, "large"),
      el("div", { class: "warning-text" }, [
        el("p", { class: "warning-desc", text: lv.description || "" }),
        el("p", { class: "summary", "data-testid": "summary", text: summaryLine(d) }),
      ]),
    ]));
    const reveals = [];
    if (d.text !== null && d.text !== undefined) {
      const body = evidenceText(d.text, d.evidence || [], shielded);
      reveals.push(body.reveal);
      if (!opts || !opts.compact) wrap.append(body.node);
      if (opts && opts.compact) {
        const ev = evidenceList(d.evidence || [], shielded);
        reveals.push(ev.reveal);
        wrap.append(ev.node);
      }
    } else {
      wrap.append(el("p", { class: "notice no-text", role: "note", "data-testid": "no-text" }, [
        el("strong", { text: "本文は保存されていません。" }),
        d.detail_stored === false
          ? "この判定は本文・根拠の保存機能より前に記録されました。"
          : "KASUHARA_STORE_TEXT が無効か、保存期間を過ぎたため本文を削除しました。判定・カテゴリ・推奨対応のみ表示します。",
      ]));
      if (opts && opts.compact) wrap.append(evidenceList(d.evidence || [], false).node);
    }
    if (shielded && reveals.length) {
      let on = false;
      const btn = el("button", { type: "button", class: "btn-reveal", "aria-expanded": "false",
                                 "data-testid": "reveal" }, ["伏せ字を表示する"]);
      const note = el("span", { class: "muted reveal-note", text: "内容の確認が必要なときだけ表示してください。" });
      btn.addEventListener("click", function () {
        on = !on;
        reveals.forEach(function (r) { r(on); });
        btn.textContent = on ? "再び伏せる" : "伏せ字を表示する";
        btn.setAttribute("aria-expanded", String(on));
        announce(on ? "伏せ字の表現を表示しました" : "表現を再び伏せました");
      });
      wrap.insertBefore(el("div", { class: "reveal-bar" }, [btn, note]), wrap.children[1]);
    }
    return wrap;
  }

  function actionsList(actions) {
    if (!actions || !actions.length) return el("p", { class: "muted", text: "推奨対応はありません。" });
    return el("ol", { class: "actions" }, actions.map(function (a) { return el("li", { text: a }); }));
  }

  window.Kasuhara = { getKey, setKey, clearKey, takeKeyFromFragment, api, ApiError, meta, loadMeta, el,
                      fmtTime, announce, badge, categoryName, categoryChip, paintCategory, isShielded,
                      summaryLine, shieldedMessage, actionsList, evidenceList };
})();
