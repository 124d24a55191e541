// report_probe.js - measures a rendered report page from inside the browser; the test appends it
// to a copy of the page (the report itself has no script) and reads the line it writes into the
// DOM with chromium --dump-dom. One line: "PROBE key=value ...", each value a count or 0/1.
(function () {
  const vw = window.innerWidth;
  const out = {};
  out.viewport = vw;
  out.page_fits = document.documentElement.scrollWidth <= vw ? 1 : 0;
  // Pictures: inside the window, and neither cut nor squeezed to nothing.
  const pics = Array.from(document.querySelectorAll("svg.pic"));
  out.pictures = pics.length;
  out.pictures_fit = pics.every(s => {
    const r = s.getBoundingClientRect();
    return r.left >= 0 && r.right <= vw && r.width > 300;
  }) ? 1 : 0;
  // The tables a reviewer decides from fit without scrolling.
  out.key_tables_fit = 1;
  for (const h of document.querySelectorAll("h2")) {
    if (!/^(Against the baselines|Bill of materials)$/.test(h.textContent)) continue;
    let el = h.nextElementSibling;
    while (el && !el.classList.contains("tw")) el = el.nextElementSibling;
    if (!el || el.scrollWidth > el.clientWidth) out.key_tables_fit = 0;
  }
  // No value breaks across lines: a plain cell's text is one line; in a list cell, each value.
  const lines = node => {
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set();
    for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    return tops.size;
  };
  let cells = 0, wrapped = 0;
  for (const td of document.querySelectorAll("td:not(.w):not(.p), th")) {
    if (td.closest("table.kv")) continue;
    cells++;
    if (td.textContent.trim() && lines(td) > 1) wrapped++;
  }
  for (const span of document.querySelectorAll("td.w span")) {
    cells++;
    if (lines(span) > 1) wrapped++;
  }
  out.cells = cells;
  out.wrapped = wrapped;
  const p = document.createElement("pre");
  p.id = "vp-probe";
  p.textContent = "PROBE " + Object.entries(out).map(([k, v]) => k + "=" + v).join(" ");
  document.body.appendChild(p);
})();
