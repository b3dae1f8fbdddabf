/*
 * A competition's leaderboard page: the server renders it; this script asks for the
 * competition again every few seconds (GET /api/v1/competitions/{id}) and redraws the
 * table, the status, the countdown and the winners, until the winners are fixed. The
 * countdown runs on the server's clock (server_time), not the device's.
 *
 * Names come from users: they reach the page only as text (Hawker.el sets textContent).
 */
(function () {
  "use strict";

  var root = document.getElementById("leaderboard");
  if (!root || !window.Hawker) return;
  var el = Hawker.el;
  var id = root.dataset.competitionId;
  var POLL_MS = 3000;
  var WORDS = { upcoming: t("Starts soon"), running: t("Live"), closing: t("Counting"), final: t("Final") };

  var state = {
    status: root.dataset.status,
    startsAt: Date.parse(root.dataset.startsAt),
    endsAt: Date.parse(root.dataset.endsAt),
    offset: Date.parse(root.dataset.serverTime) - Date.now(),
  };
  var timer = null;

  function $(name) { return document.getElementById(name); }

  function clock(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    if (d) return d + "d " + h + "h " + two(m) + "m";
    return (h ? h + ":" + two(m) : String(m)) + ":" + two(sec);
  }

  function tick() {
    var now = Date.now() + state.offset;
    var text = "";
    if (state.status === "upcoming") text = "starts in " + clock(state.startsAt - now);
    else if (state.status === "running") text = "ends in " + clock(state.endsAt - now);
    else if (state.status === "closing") text = "fixing the winners…";
    $("lb-clock").textContent = text;
  }

  function row(standing) {
    var e = standing.entrant;
    var name = e.kind === "show"
      ? [el("a", { href: "/shows/" + encodeURIComponent(e.id), text: e.name }),
         e.host ? el("span", { class: "muted", text: " · " + e.host.display_name }) : null]
      : e.name;
    return el("tr", { "data-testid": "standing-" + e.id, class: standing.winner ? "top" : "" },
      el("td", { class: "rank", "data-col": "rank", text: standing.rank }),
      el("td", { "data-col": "name" }, name),
      el("td", { class: "lb-num", "data-col": "units", text: standing.units }),
      el("td", { class: "lb-num", "data-col": "gmv", text: Hawker.money(standing.gmv) }));
  }

  function render(c) {
    state.status = c.status;
    state.startsAt = Date.parse(c.starts_at);
    state.endsAt = Date.parse(c.ends_at);
    state.offset = Date.parse(c.server_time) - Date.now();
    root.dataset.status = c.status;
    var status = $("lb-status");
    status.textContent = WORDS[c.status] || c.status;
    status.className = "lb-status " + c.status;
    $("lb-rows").replaceChildren.apply($("lb-rows"), c.standings.map(row));
    var winners = $("lb-winners");
    winners.hidden = c.status !== "final";
    if (c.status === "final") {
      var names = c.winners.map(function (w) { return w.name; }).join(", ");
      winners.textContent = c.winners.length
        ? "🏆 " + (c.winners.length > 1 ? t("Winners: {names}", { names: names }) : t("Winner: {names}", { names: names }))
        : t("No winner: nothing sold in this competition.");
    }
    tick();
  }

  function poll() {
    if (state.status === "final") return;
    if (document.hidden) {
      timer = setTimeout(poll, POLL_MS);
      return;
    }
    fetch("/api/v1/competitions/" + encodeURIComponent(id), {
      headers: { "Accept": "application/json" }, cache: "no-store",
    }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (c) {
      if (c) render(c);
    }).catch(function () {
      // Offline for a moment: the next poll tries again.
    }).then(function () {
      if (state.status !== "final") timer = setTimeout(poll, POLL_MS);
    });
  }

  tick();
  setInterval(tick, 500);
  timer = setTimeout(poll, POLL_MS);
})();
