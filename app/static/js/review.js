/*
 * Review queue enhancements. Without this file the queue works the same: tick items, press
 * "Approve selected".
 *
 * - "Select all on this page" (hidden without JavaScript) with an indeterminate state.
 * - The bulk button shows how many items are selected, and nothing is posted with none.
 */
(function () {
  "use strict";

  function init() {
    var form = document.querySelector("[data-bulk-form]");
    if (!form) {
      return;
    }
    var all = form.querySelector("[data-select-all]");
    var wrap = form.querySelector("[data-select-all-wrap]");
    var count = form.querySelector("[data-selected-count]");
    var checks = Array.prototype.slice.call(form.querySelectorAll("[data-item-check]"));

    function selected() {
      return checks.filter(function (box) {
        return box.checked;
      }).length;
    }

    function update() {
      var n = selected();
      if (count) {
        count.textContent = n ? "(" + n + ")" : "";
      }
      if (all) {
        all.checked = n > 0 && n === checks.length;
        all.indeterminate = n > 0 && n < checks.length;
      }
    }

    if (wrap && checks.length > 1) {
      wrap.hidden = false;
    }
    if (all) {
      all.addEventListener("change", function () {
        checks.forEach(function (box) {
          box.checked = all.checked;
        });
        update();
        window.fgf.announce(all.checked ? checks.length + " items selected" : "Selection cleared");
      });
    }
    checks.forEach(function (box) {
      box.addEventListener("change", update);
    });

    // Window capture runs before app.js's confirmation (document capture): no "Approve the
    // selected items?" prompt when nothing is selected.
    window.addEventListener(
      "submit",
      function (event) {
        if (event.target !== form || selected()) {
          return;
        }
        event.preventDefault();
        event.stopImmediatePropagation();
        window.fgf.announce("Select at least one item to approve.");
        if (checks[0]) {
          checks[0].focus();
        }
      },
      true
    );
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
