// The exports page: each running export of one's own polls its status and moves its progress bar; when it ends
// the page is loaded again, showing the download (or the failure). Without script, the Refresh link does the same.
(function () {
  "use strict";
  function follow(bar) {
    var url = bar.getAttribute("data-status-url");
    var inner = bar.querySelector(".progress-bar");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (state) {
          if (!state) { return; }
          bar.setAttribute("aria-valuenow", String(state.percent));
          inner.style.width = state.percent + "%";
          inner.textContent = state.status + " " + state.percent + "%";
          if (state.status === "done" || state.status === "failed") {
            window.location.reload();
          } else {
            window.setTimeout(poll, 700);
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    poll();
  }
  document.querySelectorAll(".export-progress[data-status-url]").forEach(follow);
})();
