// Draws every Plotly figure of the page from its JSON data block (built on the server).
// Kept in a file, not inline, so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  function draw() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll(".plotly-target").forEach(function (target) {
      var source = document.getElementById(target.dataset.figure);
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(target, figure.data, figure.layout, {
        responsive: true, displaylogo: false, staticPlot: false
      }).then(function () { target.setAttribute("data-rendered", "true"); });
    });
  }
  // printing: give the plots the page width so they are not cut
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll(".plotly-target").forEach(function (t) { Plotly.Plots.resize(t); });
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else { draw(); }
})();
