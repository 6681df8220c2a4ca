/* kasuhara ticket-sidebar widget: /widget?ticket_id=…[#key=…] — the latest result of one ticket. */
"use strict";

(function () {
  const K = window.Kasuhara;
  const el = K.el;
  const root = document.getElementById("widget");

  function show(children) { root.replaceChildren.apply(root, children.filter(function (c) { return c; })); }

  async function start() {
    K.takeKeyFromFragment();
    const ticket = new URLSearchParams(location.search).get("ticket_id");
    if (!ticket) return show([el("p", { class: "error", role: "alert", text: "ticket_id が指定されていません。" })]);
    try {
      await K.loadMeta();
    } catch (e) {
      if (e.status === 401) {
        return show([el("p", { class: "error", role: "alert" }, [
          "APIキーが必要です。埋め込みURLの末尾に ", el("code", { text: "#key=…" }), " を付けてください。"])]);
      }
      return show([el("p", { class: "error", role: "alert", text: "読み込めませんでした：" + e.message })]);
    }
    let d;
    try {
      d = await K.api("/v1/tickets/" + encodeURIComponent(ticket));
    } catch (e) {
      if (e.status === 404) {
        return show([el("div", { class: "w-head" }, [el("span", { class: "badge level-unscored" }, [
          el("span", { class: "badge-icon", "aria-hidden": "true", text: "…" }), "未判定"])]),
          el("p", { class: "muted", text: "このチケットはまだ判定されていません。" })]);
      }
      return show([el("p", { class: "error", role: "alert", text: "読み込めませんでした：" + e.message })]);
    }
    render(d);
  }

  function render(d) {
    const link = el("a", { href: "/console#m=" + d.id, target: "_blank", rel: "noopener", class: "w-link" },
                       ["コンソールで詳しく見る ↗"]);
    const actions = d.actions || [];
    const top = K.actionsList(actions.slice(0, 3));
    const rest = actions.length > 3
      ? el("details", { class: "w-more" }, [el("summary", { text: "ほか " + (actions.length - 3) + " 件の推奨対応" }),
                                            K.actionsList(actions.slice(3))])
      : null;
    show([
      K.shieldedMessage(d, { compact: true }),
      el("h2", { class: "w-h", text: "推奨対応" }), top, rest,
      el("p", { class: "w-foot" }, [el("span", { class: "muted", text: "判定 " + K.fmtTime(d.scored_at) + "　" }), link]),
    ]);
  }

  start();
})();
