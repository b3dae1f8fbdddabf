/*
 * The top bar's menu button: on a phone the links (and who is signed in, and signing out)
 * sit behind it, so that the bar keeps to one line. The button opens and closes them; a
 * click elsewhere or Escape closes them.
 */
(function () {
  const nav = document.getElementById("topnav");
  const toggle = document.getElementById("navtoggle");
  if (!nav || !toggle) return;
  function set(open) {
    nav.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  }
  toggle.addEventListener("click", (event) => {
    event.stopPropagation();
    set(!nav.classList.contains("open"));
  });
  document.addEventListener("click", (event) => {
    if (!nav.contains(event.target)) set(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") set(false);
  });
})();
