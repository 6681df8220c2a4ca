/* kasuhara agent console: the queue, filters, the shielded detail view, feedback, drift. */
"use strict";

(function () {
  const K = window.Kasuhara;
  const el = K.el;
  const $ = function (id) { return document.getElementById(id); };
  const state = { filter: {}, nextBefore: null, selected: null, items: [] };

  /* -- start: ask for the key when the server wants one ------------------------------------- */
  async function start() {
    try {
      await K.loadMeta();
    } catch (e) {
      if (e.status === 401) return showLogin(K.getKey() ? "APIキーが正しくありません。" : "");
      return fatal(e);
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = !K.getKey();
    $("model-version").textContent = "モデル " + (K.meta.modelVersion || "");
    const mode = $("text-mode");
    mode.hidden = false;
    mode.textContent = K.meta.storeText ? "本文保存：有効（" + K.meta.retentionDays + "日間）" : "本文保存：無効";
    buildFilters();
    await loadQueue(false);
    loadDrift();
    const m = /(?:^|&)m=(\d+)/.exec(location.hash.replace(/^#/, ""));
    if (m) openMessage(Number(m[1]));
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("login-key").focus();
  }

  function fatal(e) {
    $("app").hidden = false;
    $("queue").replaceChildren(el("li", { class: "error", role: "alert", text: "読み込めませんでした：" + e.message }));
  }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    K.setKey($("login-key").value.trim());
    $("login-key").value = "";
    start();
  });
  $("logout").addEventListener("click", function () { K.clearKey(); location.reload(); });

  /* -- filters --------------------------------------------------------------------------- */
  function buildFilters() {
    const box = $("level-filter");
    box.replaceChildren();
    K.meta.levelOrder.slice().reverse().forEach(function (id) {
      const input = el("input", { type: "checkbox", value: id, id: "lv-" + id, name: "level" });
      box.append(el("label", { class: "level-option", for: "lv-" + id }, [input, K.badge(id)]));
    });
    const sel = $("f-label");
    sel.replaceChildren(el("option", { value: "", text: "すべて" }));
    ["conduct", "demand"].forEach(function (group) {
      const og = el("optgroup", { label: group === "conduct" ? "言動" : "要求" });
      K.meta.categoryOrder.filter(function (id) { return K.meta.categories[id].group === group; })
        .forEach(function (id) { og.append(el("option", { value: id, text: K.categoryName(id) })); });
      sel.append(og);
    });
  }

  function readFilters() {
    const levels = Array.from(document.querySelectorAll("#level-filter input:checked")).map(function (i) { return i.value; });
    const f = {};
    if (levels.length) f.level = levels.join(",");
    if ($("f-label").value) f.label = $("f-label").value;
    const cust = $("f-customer").value.trim();
    if (cust) f.customer_id = cust;
    if (state.customerKey && !cust) f.customer = state.customerKey;
    const ticket = $("f-ticket").value.trim();
    if (ticket) f.ticket_id = ticket;
    return f;
  }

  $("filters").addEventListener("submit", function (ev) {
    ev.preventDefault();
    state.customerKey = null;
    $("f-customer-key").hidden = true;
    state.filter = readFilters();
    loadQueue(false);
  });
  $("f-reset").addEventListener("click", function () {
    $("filters").reset();
    state.customerKey = null;
    $("f-customer-key").hidden = true;
    state.filter = {};
    loadQueue(false);
  });
  $("refresh").addEventListener("click", function () { loadQueue(false); });
  $("more").addEventListener("click", function () { loadQueue(true); });

  /** Filter by a customer pseudonym (from the history panel: the console never sees the id). */
  function filterByCustomer(pseudonym) {
    $("filters").reset();
    state.customerKey = pseudonym;
    state.filter = { customer: pseudonym };
    const note = $("f-customer-key");
    note.hidden = false;
    note.textContent = "顧客 #" + pseudonym + " のメッセージのみ表示中";
    loadQueue(false);
  }

  /* -- the queue: no message text in it, whatever the level --------------------------------- */
  async function loadQueue(append) {
    const params = new URLSearchParams(state.filter);
    params.set("limit", "30");
    if (append && state.nextBefore) params.set("before_id", String(state.nextBefore));
    let page;
    try {
      page = await K.api("/v1/messages?" + params.toString());
    } catch (e) {
      if (e.status === 401) return showLogin("APIキーが正しくありません。");
      return fatal(e);
    }
    state.items = append ? state.items.concat(page.items) : page.items;
    state.nextBefore = page.next_before_id;
    renderQueue();
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren();
    if (!state.items.length) {
      list.append(el("li", { class: "empty", text: "条件に合うメッセージはありません。" }));
    }
    state.items.forEach(function (it) {
      const cats = it.labels.length
        ? el("span", { class: "q-cats" }, it.labels.map(K.categoryChip))
        : el("span", { class: "q-cats muted", text: "該当カテゴリなし" });
      const btn = el("button", { type: "button", class: "q-item level-" + it.level, "data-id": String(it.id),
                                 "aria-current": state.selected === it.id ? "true" : null,
                                 onclick: function () { openMessage(it.id); } }, [
        K.badge(it.level),
        el("span", { class: "q-main" }, [
          el("span", { class: "q-ticket", text: it.ticket_id ? "チケット " + it.ticket_id : "チケットIDなし" }),
          cats,
        ]),
        el("span", { class: "q-meta" }, [
          el("time", { datetime: it.received_at, text: K.fmtTime(it.received_at) }),
          it.customer ? el("span", { class: "muted", text: "顧客 #" + it.customer.slice(0, 6) }) : null,
        ]),
      ]);
      list.append(el("li", {}, [btn]));
    });
    $("queue-count").textContent = state.items.length + " 件" + (state.nextBefore ? "以上" : "");
    $("more").hidden = !state.nextBefore;
  }

  /* -- the detail view ----------------------------------------------------------------------- */
  async function openMessage(id) {
    state.selected = id;
    renderQueue();
    let d;
    try {
      d = await K.api("/v1/messages/" + id);
    } catch (e) {
      $("detail-body").hidden = false;
      $("detail-empty").hidden = true;
      $("detail-body").replaceChildren(el("p", { class: "error", role: "alert", text: "表示できません：" + e.message }));
      return;
    }
    history.replaceState(null, "", "#m=" + id);
    renderDetail(d);
    $("detail").focus();
  }

  function section(title, children, extraClass) {
    const hid = "h-" + title.replace(/[^\w]/g, "") + Math.random().toString(36).slice(2, 7);
    return el("section", { class: "card block " + (extraClass || ""), "aria-labelledby": hid },
              [el("h3", { id: hid, text: title })].concat(children));
  }

  function renderDetail(d) {
    const body = $("detail-body");
    $("detail-empty").hidden = true;
    body.hidden = false;
    const head = el("header", { class: "detail-head" }, [
      el("h2", { id: "detail-title", text: d.ticket_id ? "チケット " + d.ticket_id : "メッセージ #" + d.id }),
      el("p", { class: "muted" }, [
        "受信 ", K.fmtTime(d.received_at), "　リスク ", Math.round(d.risk * 100) + "%",
        d.customer ? "　顧客 #" + d.customer.slice(0, 6) : "", "　モデル ", d.model_version,
      ]),
    ]);
    const message = K.shieldedMessage(d);
    const cats = d.labels.length ? el("div", { class: "chips" }, d.labels.map(K.categoryChip))
                                 : el("p", { class: "muted", text: "該当カテゴリはありません。" });
    const evidence = d.evidence.length ? evidenceView(d) : null;
    const main = el("div", { class: "detail-col" }, [
      section("推奨対応", [K.actionsList(d.actions)], "actions-block"),
      section("カテゴリと根拠", [cats, evidence]),
      section("要求", [demandsView(d)]),
    ]);
    const side = el("div", { class: "detail-col" }, [
      section("顧客の履歴", [historyView(d)]),
      section("フィードバック", [feedbackView(d)], "feedback-block"),
    ]);
    body.replaceChildren(head, message, el("div", { class: "detail-grid" }, [main, side]));
  }

  function evidenceView(d) {
    const shielded = K.isShielded(d.level) && d.text !== null;
    const list = K.evidenceList(d.evidence, shielded);
    if (shielded) {
      const btn = el("button", { type: "button", class: "btn-quiet", "aria-expanded": "false" }, ["根拠の表現を表示する"]);
      let on = false;
      btn.addEventListener("click", function () {
        on = !on;
        list.reveal(on);
        btn.setAttribute("aria-expanded", String(on));
        btn.textContent = on ? "根拠の表現を伏せる" : "根拠の表現を表示する";
        K.announce(on ? "根拠の表現を表示しました" : "根拠の表現を伏せました");
      });
      return el("div", {}, [list.node, btn]);
    }
    return list.node;
  }

  function demandsView(d) {
    const demandLabels = d.labels.filter(function (l) { return K.meta.categories[l].group === "demand"; });
    const items = demandLabels.map(function (l) { return el("li", {}, [K.categoryChip(l)]); });
    (d.demands || []).forEach(function (m) {
      const parts = [m.what, m.of ? "（" + m.of + "）" : "", m.amount ? "　金額：" + m.amount : ""].join("");
      items.push(el("li", {}, [el("span", { class: "demand-kind", text: m.kind || "要求" }), " ", parts]));
    });
    if (!items.length) {
      return el("p", { class: "muted", text: d.text === null && !K.meta.storeText
        ? "要求の詳細は本文とともに保存されないため表示できません。" : "要求は見つかりませんでした。" });
    }
    return el("ul", { class: "demands" }, items);
  }

  function stat(label, value) {
    return el("div", { class: "stat" }, [el("span", { class: "stat-value", text: String(value) }),
                                         el("span", { class: "stat-label", text: label })]);
  }

  function historyView(d) {
    const h = d.customer_history;
    if (!h) return el("p", { class: "muted", text: "顧客IDがないため履歴はありません。" });
    const atScoring = d.history_at_scoring;
    const rows = [el("div", { class: "stats" }, [
      stat("24時間", h.messages_1d), stat("7日間", h.messages_7d), stat("30日間", h.messages_30d),
      stat("うちカスハラ（30日）", h.harassment_30d)])];
    if (atScoring && atScoring.persistence !== undefined) {
      rows.push(el("p", {}, ["判定時の継続性スコア ", el("strong", { text: Math.round(atScoring.persistence * 100) + "%" }),
                             "（判定時点で24時間に" + atScoring.messages_24h + "件、7日間に" + atScoring.messages_7d + "件）"]));
    }
    const labels = Object.keys(h.labels_30d);
    if (labels.length) {
      rows.push(el("div", { class: "chips" }, labels.map(function (l) {
        const c = K.categoryChip(l);
        c.append(el("span", { class: "chip-count", text: "×" + h.labels_30d[l] }));
        return c;
      })));
    }
    const recent = el("ul", { class: "recent" }, h.recent.map(function (r) {
      return el("li", {}, [el("button", { type: "button", class: "link", "aria-current": r.id === d.id ? "true" : null,
                                          onclick: function () { openMessage(r.id); } },
                              [K.badge(r.level), " ", K.fmtTime(r.received_at), " ",
                               r.ticket_id ? "チケット " + r.ticket_id : "#" + r.id])]);
    }));
    rows.push(recent);
    rows.push(el("button", { type: "button", class: "btn-quiet", onclick: function () { filterByCustomer(h.customer); } },
                 ["この顧客のメッセージで絞り込む"]));
    return el("div", {}, rows);
  }

  /* -- feedback: right / wrong / corrected labels, to POST /v1/feedback ------------------------ */
  function feedbackView(d) {
    const status = el("p", { class: "fb-status", role: "status", "aria-live": "polite", "data-testid": "fb-status" });
    const past = el("ul", { class: "fb-past" });
    function showPast(list) {
      past.replaceChildren.apply(past, list.map(function (f) {
        return el("li", { "data-testid": "fb-row" }, [
          K.fmtTime(f.created_at), "　", f.harassment ? "カスハラ" : "カスハラではない", "　",
          f.labels.length ? f.labels.map(K.categoryName).join("、") : "カテゴリなし",
          f.annotator ? "（" + f.annotator + "）" : "",
          f.message == null ? "［チケット全体］" : ""]);
      }));
    }
    showPast(d.feedback || []);
    const conduct = function (l) { return K.meta.categories[l].group === "conduct"; };
    async function send(labels, comment) {
      // the verdict is about this message (d.id), not the whole ticket
      const body = { message: d.id, labels: labels, harassment: labels.some(conduct) };
      if (d.ticket_id) body.ticket_id = d.ticket_id;
      if (comment) body.comment = comment;
      status.textContent = "送信中…";
      try {
        const saved = await K.api("/v1/feedback", { method: "POST", json: body });
        status.textContent = "フィードバックを記録しました（#" + saved.feedback_id + "）。ありがとうございます。";
        d.feedback = [{ feedback_id: saved.feedback_id, message: saved.message, labels: saved.labels,
                        harassment: saved.harassment, annotator: saved.annotator,
                        created_at: saved.created_at }].concat(d.feedback || []);
        showPast(d.feedback);
      } catch (e) {
        status.textContent = "送信できませんでした：" + e.message;
      }
    }
    const form = el("form", { class: "fb-form", hidden: true, "aria-label": "カテゴリの修正" });
    const boxes = el("fieldset", { class: "fb-labels" }, [el("legend", { text: "正しいカテゴリ（すべて選択）" })]);
    K.meta.categoryOrder.forEach(function (id) {
      const cb = el("input", { type: "checkbox", value: id, id: "fb-" + id, checked: d.labels.includes(id) });
      boxes.append(el("label", { for: "fb-" + id, class: "fb-label" }, [cb, K.categoryName(id)]));
    });
    const comment = el("textarea", { id: "fb-comment", rows: "2", maxlength: "5000" });
    form.append(boxes, el("label", { for: "fb-comment", text: "コメント（任意）" }), comment,
                el("button", { type: "submit", class: "btn-primary", text: "修正を送信" }));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const labels = Array.from(form.querySelectorAll(".fb-labels input:checked")).map(function (i) { return i.value; });
      send(labels, comment.value.trim());
      form.hidden = true;
    });
    function openForm(flipHarassment) {
      form.hidden = false;
      if (flipHarassment && !d.harassment) status.textContent = "該当するカテゴリを選んで送信してください。";
      form.querySelector("input").focus();
    }
    const buttons = el("div", { class: "fb-buttons" }, [
      el("button", { type: "button", class: "btn-ok", onclick: function () { send(d.labels); } }, ["✓ 判定は正しい"]),
      el("button", { type: "button", class: "btn-ng", onclick: function () {
        // wrong: "not harassment" keeps only the demands; "is harassment" needs the categories
        if (d.harassment) send(d.labels.filter(function (l) { return !conduct(l); }));
        else openForm(true);
      } }, ["✗ 判定は誤り"]),
      el("button", { type: "button", class: "btn-quiet", onclick: function () { openForm(false); } }, ["カテゴリを修正…"]),
    ]);
    return el("div", {}, [buttons, form, status, past]);
  }

  /* -- drift: GET /v1/drift when the service offers it; otherwise no panel --------------------- */
  async function loadDrift() {
    let drift;
    try {
      drift = await K.api("/v1/drift");
    } catch (e) {
      $("drift").hidden = true;
      return;
    }
    const series = (drift && drift.series) || [];
    if (!series.length) { $("drift").hidden = true; return; }
    $("drift").hidden = false;
    $("drift-chart").replaceChildren(sparkline(series));
    $("drift-alerts").replaceChildren.apply($("drift-alerts"), (drift.alerts || []).map(function (a) {
      return el("li", { role: "note" }, [el("span", { class: "badge-icon", "aria-hidden": "true", text: "⚠" }), " ",
                                         a.label ? K.categoryChip(a.label) : null, " ", a.message]);
    }));
  }

  function sparkline(series) {
    const NS = "http://www.w3.org/2000/svg";
    const w = 300, h = 60, pad = 4;
    const max = Math.max(0.05, Math.max.apply(null, series.map(function (s) { return s.harassment_rate || 0; })));
    const pts = series.map(function (s, i) {
      const x = pad + (series.length === 1 ? 0 : (i * (w - 2 * pad)) / (series.length - 1));
      const y = h - pad - ((s.harassment_rate || 0) / max) * (h - 2 * pad);
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
    const last = series[series.length - 1];
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("class", "spark");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "直近" + series.length + "日のカスハラ率。最新 " +
                     Math.round((last.harassment_rate || 0) * 1000) / 10 + "%（" + last.messages + "件）");
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", pts);
    svg.append(line);
    const end = pts.split(" ").pop().split(",");  // the latest day as a dot: visible even when it is the only one
    const dot = document.createElementNS(NS, "circle");
    dot.setAttribute("cx", end[0]);
    dot.setAttribute("cy", end[1]);
    dot.setAttribute("r", "3");
    svg.append(dot);
    return el("figure", {}, [svg, el("figcaption", { class: "muted",
      text: "最新日 " + K.fmtTime(last.start).split(" ")[0] + "：" + last.messages + "件中 " +
            Math.round((last.harassment_rate || 0) * 1000) / 10 + "%" })]);
  }

  start();
})();
