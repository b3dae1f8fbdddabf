/*
 * The viewer page's "Follow" (the host) and "Remind me" (this scheduled show) buttons:
 * each shows its state from the API and toggles it with PUT / DELETE.
 */
(function () {
  "use strict";

  var stage = document.getElementById("stage");
  if (!stage || !window.HawkerRoom) return;
  var api = HawkerRoom.api;
  var showId = stage.dataset.showId;

  function wire(button, path, key, on, off) {
    if (!button) return;
    function render(out) {
      var active = !!out[key];
      button.setAttribute("aria-pressed", active ? "true" : "false");
      button.textContent = active ? on : off;
      button.hidden = false;
    }
    api("GET", path).then(render).catch(function () {});
    button.addEventListener("click", function () {
      var active = button.getAttribute("aria-pressed") === "true";
      button.disabled = true;
      api(active ? "DELETE" : "PUT", path).then(render).catch(function (err) {
        button.title = err.message;
      }).then(function () { button.disabled = false; });
    });
  }

  var follow = document.getElementById("follow");
  if (follow) wire(follow, "/hosts/" + follow.dataset.hostId + "/follow", "following", t("Following"), t("Follow"));
  wire(document.getElementById("remind"), "/shows/" + showId + "/reminder", "reminder", t("Reminder set"), t("Remind me"));
})();
