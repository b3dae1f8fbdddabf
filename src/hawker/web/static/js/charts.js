/*
 * The host console's live charts (viewers, orders per minute, GMV and conversion over the
 * show). The server draws them as SVG with every piece of text escaped, so the fragment goes
 * in as it comes; it is fetched again every half minute while the console is open.
 */
(function () {
  "use strict";

  var box = document.getElementById("cx-charts");
  if (!box) return;
  var url = box.dataset.src;
  var EVERY_MS = 30000;

  function load() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 403) { box.closest(".cx-block").hidden = true; return null; }
        if (!r.ok) throw new Error("charts " + r.status);
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        box.innerHTML = html;
        box.dataset.loaded = String(Date.now());
      })
      .catch(function () { /* the next round tries again */ });
  }

  load();
  setInterval(load, EVERY_MS);
})();
