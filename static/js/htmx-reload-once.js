// A polled status line answers HX-Refresh once the data behind the page changed. The reload can take longer
// than the polling interval (a slow page, a loaded server), and htmx keeps polling the old page meanwhile: every
// further answer restarted the reload, so a slow page could never finish loading. Once a reload is under way,
// this page sends no more requests.
(() => {
  let reloading = false;
  document.addEventListener("htmx:afterRequest", (event) => {
    const xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Refresh") === "true") reloading = true;
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (reloading) event.preventDefault();
  });
})();
