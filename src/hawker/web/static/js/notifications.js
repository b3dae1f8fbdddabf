/*
 * The notifications badge in the top bar (how many are unread, checked on load and every
 * half minute) and, on /notifications, marking them read.
 */
(function () {
  "use strict";

  if (!window.HawkerRoom) return;
  var api = HawkerRoom.api;
  var badge = document.getElementById("notes-badge");
  var EVERY_MS = 30000;

  function show(unread) {
    if (!badge) return;
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.hidden = !unread;
  }

  function check() {
    api("GET", "/me/notifications?unread=true&limit=1").then(function (out) {
      show(out.unread);
    }).catch(function () { /* signed out meanwhile, or offline: try again later */ });
  }

  var all = document.getElementById("notes-read-all");
  if (all) {
    all.addEventListener("click", function () {
      api("POST", "/me/notifications/read").then(function (out) {
        show(out.unread);
        document.querySelectorAll(".sch-notes li.unread").forEach(function (li) {
          li.classList.remove("unread");
        });
        all.hidden = true;
      });
    });
  }
  document.querySelectorAll(".sch-notes a[data-read]").forEach(function (link) {
    link.addEventListener("click", function () {
      // Marked read on the way to the show; the page does not wait for it.
      api("POST", "/me/notifications/" + link.dataset.read + "/read").catch(function () {});
    });
  });

  check();
  setInterval(check, EVERY_MS);
})();
