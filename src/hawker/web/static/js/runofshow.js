/*
 * The run of show in the host console: the segments in time order, which one is on now
 * and which is next (on the server's clock), and for the producer: add, move (five
 * minutes earlier or later), remove, and apply a segment's step (pin its item, start its
 * deal), by hand or, with "apply each segment when its time comes", when it comes due.
 *
 * The run arrives from the API when the page opens and again after every (re)connect, and
 * each change anyone makes arrives as a `run.updated` room event holding the whole run
 * (console.js passes the room's events on as DOM events on #console).
 *
 * Titles come from users: they reach the page only as text (Hawker.el).
 */
(function () {
  "use strict";

  var root = document.getElementById("console");
  var list = document.getElementById("cx-run");
  if (!root || !list || !window.HawkerRoom || !window.Hawker) return;

  var el = Hawker.el;
  var api = HawkerRoom.api;
  var showId = root.dataset.showId;
  var manage = root.dataset.manage === "true";
  var MOVE_S = 300;

  var run = null;
  var offset = 0; // server ms - this machine's ms
  var shownNow = undefined; // the segment last shown as on now (undefined: not yet drawn)
  var auto = document.getElementById("cx-run-auto");
  var applying = {};
  var drawn = "";

  function $(id) { return document.getElementById(id); }

  function say(text) { $("cx-run-msg").textContent = text || ""; }

  function at(seg) { return Date.parse(seg.starts_at); }

  function clock(ms) {
    var d = new Date(ms);
    var h = d.getHours();
    var m = d.getMinutes();
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m;
  }

  function span(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = (m < 10 ? "0" : "") + m;
    var ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + mm + ":" + ss : m + ":" + ss;
  }

  // The same rule as the server's: on air, the last segment whose time has come is on
  // now and the first still to come is next.
  function nowAndNext() {
    var now = Date.now() + offset;
    var current = null;
    var next = null;
    if (!run) return { now: null, next: null };
    run.segments.forEach(function (seg) {
      if (run.status === "live" && at(seg) <= now) current = seg;
      else if (!next && run.status !== "ended") next = seg;
    });
    return { now: current, next: next, clock: now };
  }

  function stepText(seg) {
    var parts = [];
    if (seg.listing) {
      var label = "#" + seg.listing.number + " " + seg.listing.title;
      if (seg.pin) parts.push("pin " + label);
      if (seg.deal) {
        parts.push((seg.pin ? "" : label + ": ") + "deal " + Hawker.money(seg.deal.price) +
                   " × " + seg.deal.quantity);
      }
    }
    if (seg.applied_at) parts.push("✓ applied " + clock(Date.parse(seg.applied_at)));
    return parts.join(" · ") || "no step";
  }

  function move(seg, seconds) {
    var body = seg.offset_seconds !== null
      ? { offset_seconds: Math.max(0, seg.offset_seconds + seconds) }
      : { at: new Date(Date.parse(seg.at) + seconds * 1000).toISOString() };
    api("PATCH", "/shows/" + showId + "/run/" + seg.id, body).then(apply).catch(failed);
  }

  function applyStep(seg) {
    if (applying[seg.id]) return;
    applying[seg.id] = true;
    say("");
    api("POST", "/shows/" + showId + "/run/" + seg.id + "/apply").then(function (out) {
      apply(out.run);
      say(t("Applied “{title}”.", { title: seg.title }));
    }).catch(failed).then(function () { delete applying[seg.id]; });
  }

  function failed(err) {
    say(err && err.message ? err.message.charAt(0).toUpperCase() + err.message.slice(1) : t("That did not work."));
  }

  function tool(text, testid, onClick, disabled) {
    var b = el("button", { class: "st-btn small ghost", type: "button", "data-testid": testid, text: text });
    if (disabled) b.disabled = true;
    b.addEventListener("click", onClick);
    return b;
  }

  function render() {
    var which = nowAndNext();
    list.replaceChildren();
    if (!run || !run.segments.length) {
      list.appendChild(el("li", { class: "st-empty", text: manage
        ? t("No segments yet. Plan the show below: what to pin and which deal, minute by minute.")
        : t("No run of show for this show.") }));
    }
    var segments = run ? run.segments : [];
    var nowIndex = which.now ? segments.indexOf(which.now) : -1;
    segments.forEach(function (seg, i) {
      var isNow = i === nowIndex;
      var isNext = which.next && which.next.id === seg.id;
      var past = i < nowIndex;
      var when = seg.offset_seconds !== null ? "+" + span(seg.offset_seconds) : clock(at(seg));
      var tools = el("span", { class: "cx-run-tools" });
      if (manage) {
        tools.appendChild(tool(tc("run of show", "Apply"), "run-apply-" + seg.id, function () { applyStep(seg); },
                               run.status !== "live"));
        tools.appendChild(tool("−5", "run-earlier-" + seg.id, function () { move(seg, -MOVE_S); }));
        tools.appendChild(tool("+5", "run-later-" + seg.id, function () { move(seg, MOVE_S); }));
        tools.appendChild(tool("✕", "run-remove-" + seg.id, function () {
          api("DELETE", "/shows/" + showId + "/run/" + seg.id).then(apply).catch(failed);
        }));
      }
      list.appendChild(el("li", {
        class: (isNow ? "now" : isNext ? "next" : past ? "past" : ""),
        "data-testid": "run-segment-" + seg.id,
        "data-segment-id": String(seg.id),
      },
        el("span", { class: "cx-run-time", title: new Date(at(seg)).toString(), text: when }),
        el("span", { class: "cx-run-title", text: seg.title }),
        tools,
        el("span", { class: "cx-run-step", text: stepText(seg) })));
    });
    $("cx-run-now-title").textContent = which.now ? which.now.title : "–";
    $("cx-run-next-title").textContent = which.next ? which.next.title : "–";
    countdown(which);
    drawn = key(which);
    follow(which.now);
  }

  function key(which) {
    return (which.now ? which.now.id : "") + "/" + (which.next ? which.next.id : "");
  }

  function countdown(which) {
    $("cx-run-next-in").textContent = which.next && run.status === "live"
      ? "in " + span((at(which.next) - which.clock) / 1000) : "";
  }

  // Every second: the countdown moves; the list is drawn again only when now or next
  // changed (so a button is never replaced under the pointer for nothing).
  function tick() {
    if (!run) return;
    var which = nowAndNext();
    if (key(which) !== drawn) render();
    else countdown(which);
  }

  // With auto on, a segment that comes due while the console watches is applied once.
  function follow(current) {
    var id = current ? current.id : null;
    if (shownNow !== undefined && id !== shownNow && current && auto && auto.checked &&
        !current.applied_at && (current.pin || current.deal)) {
      applyStep(current);
    }
    shownNow = id;
  }

  function apply(next) {
    if (!next || !Array.isArray(next.segments)) return;
    run = next;
    var serverTime = Date.parse(next.server_time);
    if (!isNaN(serverTime)) offset = serverTime - Date.now();
    render();
  }

  function load() {
    api("GET", "/shows/" + showId + "/run").then(apply).catch(failed);
  }

  root.addEventListener("hawker:snapshot", load);
  root.addEventListener("hawker:event", function (e) {
    var ev = e.detail || {};
    if (ev.type === "run.updated") apply(ev.data && ev.data.run);
    else if (ev.type === "show.state") load(); // going live moves every offset's base
  });

  var form = $("cx-run-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = form.elements;
      var body = {
        title: f.title.value,
        offset_seconds: Math.round(Number(f.minutes.value) * 60),
      };
      if (f.listing_id.value) {
        body.listing_id = Number(f.listing_id.value);
        body.pin = true;
        if (f.deal_price.value.trim()) {
          body.deal = { price: f.deal_price.value.trim(), quantity: Number(f.deal_quantity.value) };
        }
      }
      api("POST", "/shows/" + showId + "/run", body).then(function (out) {
        apply(out);
        f.title.value = "";
        f.deal_price.value = "";
        say("");
      }).catch(failed);
    });
  }

  setInterval(tick, 1000);
  load();
})();
