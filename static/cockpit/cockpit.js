// Small behaviours on top of htmx. The cockpit works without this file.
// Polling elements (data-poll) skip their request while the tab is hidden, so a
// forgotten tab does not keep asking the server; the next tick after it is shown refreshes.
document.addEventListener("htmx:beforeRequest", function (event) {
  var elt = event.detail && event.detail.elt;
  if (document.hidden && elt && elt.hasAttribute("data-poll")) {
    event.preventDefault();
  }
});
