/*
 * Reading pages: applause without a page reload, and search results as you type.
 * Both are enhancements of plain forms that work without this file.
 */
(function () {
  "use strict";

  var fgf = window.fgf;
  if (!fgf) {
    return;
  }

  /* --------------------------------------------------------------- applause */

  function applauseText(applauded, count) {
    var others = applauded ? count - 1 : count;
    if (count === 0) {
      return "Be the first to applaud.";
    }
    if (applauded && others === 0) {
      return "You applauded this story.";
    }
    var people = others === 1 ? "colleague" : "colleagues";
    return applauded ? "You and " + others + " " + people + " applauded." : others + " " + people + " applauded.";
  }

  function renderApplause(form, applauded, count) {
    var button = form.querySelector("[data-applause-button]");
    button.setAttribute("aria-pressed", applauded ? "true" : "false");
    form.querySelector("[data-applause-label]").textContent = applauded ? "Applauded" : "Applaud";
    form.querySelector("[data-applause-count]").textContent = String(count);
    form.querySelector("[data-applause-want]").value = applauded ? "0" : "1";
    var hint = document.querySelector("[data-applause-hint]");
    if (hint) {
      hint.textContent = applauseText(applauded, count);
    }
  }

  // Capture phase: runs before app.js's double-submit guard sees the event.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target.closest && event.target.closest("form[data-applause]");
      if (!form) {
        return;
      }
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") {
        return;
      }
      var button = form.querySelector("[data-applause-button]");
      var want = button.getAttribute("aria-pressed") !== "true";
      form.setAttribute("aria-busy", "true");
      fgf
        .postJSON(form.action, { applaud: want })
        .then(function (data) {
          renderApplause(form, data.applauded, data.count);
          fgf.announce(
            (data.applauded ? "You applauded. " : "Applause taken back. ") +
              data.count +
              (data.count === 1 ? " applause." : " applause in total.")
          );
        })
        .catch(function (error) {
          fgf.announce(error.message || "That didn’t work. Please try again.");
        })
        .then(function () {
          form.removeAttribute("aria-busy");
        });
    },
    true
  );

  /* -------------------------------------------------- search as you type */

  var searchForm = document.querySelector("form[data-live-search]");
  var results = document.querySelector("[data-search-results]");
  if (!searchForm || !results || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var controller = null;
  var lastQuery = new URLSearchParams(new FormData(searchForm)).toString();

  function refresh() {
    var params = new URLSearchParams(new FormData(searchForm));
    // Drop empty fields, so shared links stay short.
    Array.from(params.keys()).forEach(function (key) {
      if (!params.get(key)) {
        params.delete(key);
      }
    });
    var query = params.toString();
    if (query === lastQuery) {
      return;
    }
    lastQuery = query;
    if (controller) {
      controller.abort();
    }
    controller = new AbortController();
    var url = searchForm.action + (query ? "?" + query : "");
    fetch(url, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", Accept: "text/html" },
      signal: controller.signal,
    })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error("Search failed (" + resp.status + ")");
        }
        return resp.text();
      })
      .then(function (html) {
        results.innerHTML = html;
        window.history.replaceState(null, "", url);
        var summary = results.querySelector("[data-results-summary]");
        if (summary) {
          fgf.announce(summary.textContent.trim());
        }
      })
      .catch(function (error) {
        if (error.name !== "AbortError") {
          fgf.announce("Search is not responding. Press Search to try again.");
        }
      });
  }

  var debounced = fgf.debounce(refresh, 300);
  searchForm.addEventListener("input", function (event) {
    if (event.target.name === "q") {
      debounced();
    }
  });
  searchForm.addEventListener("change", function (event) {
    if (event.target.name !== "q") {
      debounced();
    }
  });
})();
