// Column sorting for the leaderboard tables (tables marked data-sortable), with the vendored
// tablesort (javascripts/vendor/tablesort/VERSION.txt). Runs on every page load (mkdocs-material's
// document$ when present, else DOMContentLoaded); a table is set up once.
(function () {
  function setUp() {
    if (typeof Tablesort === "undefined") return;
    document.querySelectorAll("table[data-sortable]").forEach(function (table) {
      if (table.dataset.sortReady) return;
      new Tablesort(table);
      table.dataset.sortReady = "1";
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(setUp);
  } else {
    document.addEventListener("DOMContentLoaded", setUp);
  }
})();
