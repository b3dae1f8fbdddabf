/*
 * Studio pages: times in the reader's own time zone, and shelf reordering through the
 * REST API (PUT /shows/{id}/shelf/order) without a page load. Everything here is an
 * enhancement: without it the forms post to the server and the page reloads.
 */
(function () {
  "use strict";

  // A scheduled time typed into <input type=datetime-local> is in the browser's zone;
  // the server needs the offset to read it.
  var offset = document.querySelector("[data-tz-offset]");
  if (offset) {
    offset.value = String(-new Date().getTimezoneOffset());
    var label = document.querySelector("[data-tz-label]");
    if (label) {
      var zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
      label.textContent = zone ? "(" + zone + ")" : "(your time)";
    }
  }

  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    });
  } catch (e) {
    format = null;
  }
  document.querySelectorAll("time[data-local][datetime]").forEach(function (node) {
    var when = new Date(node.getAttribute("datetime"));
    if (format && !isNaN(when.getTime())) node.textContent = format.format(when);
  });

  var shelf = document.querySelector('[data-testid="shelf"][data-show-id]');
  if (!shelf || !window.HawkerRoom) return;
  var showId = shelf.dataset.showId;

  function rows() {
    return Array.prototype.slice.call(shelf.querySelectorAll("li[data-listing-id]"));
  }

  function renumber() {
    var all = rows();
    all.forEach(function (row, i) {
      var n = i + 1;
      row.setAttribute("data-testid", "shelf-row-" + n);
      row.querySelector(".st-num").textContent = "#" + n;
      var up = row.querySelector('[data-move] input[value="up"]');
      var down = row.querySelector('[data-move] input[value="down"]');
      if (up) {
        var upButton = up.form.querySelector("button");
        upButton.disabled = i === 0;
        upButton.setAttribute("data-testid", "move-up-" + n);
      }
      if (down) {
        var downButton = down.form.querySelector("button");
        downButton.disabled = i === all.length - 1;
        downButton.setAttribute("data-testid", "move-down-" + n);
      }
      var testids = { 'input[name="price"]': "price-", ".st-price-form button": "save-price-",
        ".st-btn.danger": "remove-" };
      Object.keys(testids).forEach(function (selector) {
        var node = row.querySelector(selector);
        if (node) node.setAttribute("data-testid", testids[selector] + n);
      });
    });
  }

  shelf.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-move")) return;
    ev.preventDefault();
    var row = form.closest("li[data-listing-id]");
    var all = rows();
    var at = all.indexOf(row);
    var up = form.querySelector('input[name="direction"]').value === "up";
    var to = up ? at - 1 : at + 1;
    if (to < 0 || to >= all.length) return;
    var order = all.map(function (r) { return Number(r.dataset.listingId); });
    var moved = order.splice(at, 1)[0];
    order.splice(to, 0, moved);
    var button = form.querySelector("button");
    button.disabled = true;
    HawkerRoom.api("PUT", "/shows/" + showId + "/shelf/order", { listing_ids: order })
      .then(function () {
        if (up) shelf.insertBefore(row, all[to]);
        else shelf.insertBefore(row, all[to].nextSibling);
        renumber();
        button.focus();
      })
      .catch(function () {
        // Fall back to the plain form: the server explains what went wrong.
        form.submit();
      });
  });
})();
