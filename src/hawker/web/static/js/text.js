/* The messages the pages' scripts write, in the page's language.
 *
 *   t("Sold out")                    -> "已售罄" on a Chinese page
 *   t("{n} left", { n: 3 })          -> "3 left", or its translation, "{n}" filled in
 *   tc("reveal", "Show")             -> a message whose English serves in more than one
 *                                       sense, told apart by a context (gettext's pgettext)
 *
 * The page gives its catalog as JSON in <script id="hawker-text"> (web/i18n.py finds the
 * messages by reading the t() calls in static/js); a message it does not hold stays as
 * written. The values filled in are text: whoever shows the result sets textContent.
 */
(function () {
  var node = document.getElementById("hawker-text");
  var catalog = node ? JSON.parse(node.textContent) : {};
  function fill(text, values) {
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  function find(key, message) {
    return Object.prototype.hasOwnProperty.call(catalog, key) ? catalog[key] : message;
  }
  window.t = function (message, values) { return fill(find(message, message), values); };
  window.tc = function (context, message, values) {
    return fill(find(context + "\u0004" + message, message), values);
  };
})();
