// Sealroom pages: the session banner's countdown, and never showing a page again from the browser's
// back/forward cache (a page restored from it is reloaded, so the server decides what may be shown).
"use strict";

(function () {
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  var banner = document.getElementById("session-banner");
  if (!banner) {
    return;
  }
  // Counted from the server's figures, so a wrong clock on this device changes nothing.
  var loaded = Date.now();
  var idleSpan = Number(banner.dataset.idleSeconds) * 1000;
  var idleEnds = loaded + idleSpan;
  var absoluteEnds = loaded + Number(banner.dataset.absoluteSeconds) * 1000;
  var countdown = banner.querySelector("[data-countdown]");

  function tick() {
    var left = Math.min(idleEnds, absoluteEnds) - Date.now();
    if (left <= 0) {
      window.location.assign("/login?notice=session_ended");
      return;
    }
    var minutes = Math.floor(left / 60000);
    var seconds = Math.floor((left % 60000) / 1000);
    countdown.textContent = minutes + " min " + (seconds < 10 ? "0" : "") + seconds + " s";
    banner.classList.toggle("ending", left < 120000);
  }

  // A request of this page to the server (a poll of a running analysis) restarts the idle timer there.
  document.addEventListener("sealroom:session-touched", function () {
    idleEnds = Math.min(Date.now() + idleSpan, absoluteEnds);
  });
  tick();
  window.setInterval(tick, 1000);
})();
