/*
 * A head-to-head battle as a room shows it, on the viewer page and in the host console:
 *
 *   var battle = new HawkerBattle(node, showId);
 *   battle.apply(snapshot.battle);             // from the room snapshot (may be null)
 *   battle.apply(event.data.battle);           // battle.updated, battle.score
 *
 * This show's side comes first. Each side's units come from the server's last word (both
 * rooms get the same value); the countdown runs on the server's clock (the battle's
 * server_time), so two phones whose clocks disagree still count down together. When the
 * result comes, it stays up until the server stops sending the battle (a few minutes).
 *
 * Names and titles come from users: they reach the page only as text (Hawker.el).
 */
(function () {
  "use strict";

  var el = window.Hawker && Hawker.el;
  var RESULT_MS = 5 * 60 * 1000;

  function clock(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var m = Math.floor(s / 60);
    var sec = s % 60;
    return m + ":" + (sec < 10 ? "0" : "") + sec;
  }

  function HawkerBattle(node, showId) {
    this.node = node;
    this.showId = Number(showId);
    this.battle = null;
    this.offset = 0;  // server ms - this device's ms
    var self = this;
    this.timer = setInterval(function () { self.tick(); }, 250);
  }

  HawkerBattle.prototype.serverNow = function () { return Date.now() + this.offset; };

  HawkerBattle.prototype.apply = function (battle) {
    if (!battle || !Array.isArray(battle.sides)) {
      this.battle = null;
      this.node.hidden = true;
      this.node.replaceChildren();
      return;
    }
    // An older battle's late word never replaces a newer one.
    if (this.battle && battle.id < this.battle.id) return;
    var at = Date.parse(battle.server_time);
    if (!isNaN(at)) this.offset = at - Date.now();
    this.battle = battle;
    this.render();
  };

  HawkerBattle.prototype.sides = function () {
    var sides = this.battle.sides.slice();
    if (sides.length === 2 && sides[1].show_id === this.showId) sides.reverse();
    return sides;
  };

  HawkerBattle.prototype.render = function () {
    var b = this.battle;
    var ended = b.status === "ended";
    var sides = this.sides();
    var total = sides[0].units + sides[1].units;
    var self = this;
    this.node.hidden = false;
    this.node.className = "battle " + b.status;
    this.node.dataset.battleId = b.id;
    var rows = sides.map(function (side, i) {
      var ours = side.show_id === self.showId;
      var won = ended && b.winner_show_id === side.show_id;
      return el("div", { class: "battle-side" + (ours ? " ours" : "") + (won ? " won" : ""),
                         "data-testid": "battle-side-" + side.show_id },
        el("span", { class: "battle-who" },
          el("span", { class: "battle-host", text: (won ? "🏆 " : "") + side.host.display_name }),
          el("span", { class: "battle-show", text: side.title })),
        el("span", { class: "battle-units", "data-testid": "battle-units-" + side.show_id,
                     text: String(side.units) }));
    });
    var share = total ? Math.round(sides[0].units * 100 / total) : 50;
    var result = "";
    if (ended) {
      var winner = sides.filter(function (s) { return s.show_id === b.winner_show_id; })[0];
      result = b.draw || !winner
        ? t("A draw, {score}", { score: sides[0].units + "–" + sides[1].units })
        : t("{name} wins, {score}", {
          name: winner.host.display_name,
          score: Math.max(sides[0].units, sides[1].units) + "–" + Math.min(sides[0].units, sides[1].units),
        });
    }
    this.node.replaceChildren(
      el("div", { class: "battle-head" },
        el("span", { class: "battle-flag", text: "⚔ " + t("Battle") }),
        el("span", { class: "battle-clock", "data-testid": "battle-clock" })),
      rows[0],
      el("div", { class: "battle-bar", "aria-hidden": "true" },
        el("span", { style: { width: share + "%" } })),
      rows[1],
      el("div", { class: "battle-result", "data-testid": "battle-result", role: "status",
                  hidden: !ended, text: result }));
    this.tick();
  };

  HawkerBattle.prototype.tick = function () {
    var b = this.battle;
    if (!b) return;
    var node = this.node.querySelector(".battle-clock");
    if (!node) return;
    if (b.status === "ended") {
      node.textContent = t("Final");
      if (b.ended_at && this.serverNow() - Date.parse(b.ended_at) > RESULT_MS) this.apply(null);
      return;
    }
    var left = Date.parse(b.ends_at) - this.serverNow();
    node.textContent = left > 0 ? clock(left) : t("Time!");
  };

  window.HawkerBattle = HawkerBattle;
})();
