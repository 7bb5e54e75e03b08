/*
 * People admin: an email field that suggests accounts as you type (the manager on a person's
 * page, the account a free-text name merges into). Typing an email works without this file;
 * it only fills the field's <datalist> from the colleague search (/api/colleagues).
 */
(function () {
  "use strict";

  var fgf = window.fgf;
  if (!fgf) {
    return;
  }

  function initSearch(input) {
    var url = input.getAttribute("data-person-search");
    var list = document.getElementById(input.getAttribute("list"));
    if (!url || !list) {
      return;
    }
    var controller = null;
    var search = fgf.debounce(function () {
      var term = input.value.trim();
      if (term.length < 2 || term.indexOf("@") !== -1 && term === list.getAttribute("data-term")) {
        return;
      }
      if (controller) {
        controller.abort();
      }
      controller = new AbortController();
      fgf.getJSON(url, { q: term }, { signal: controller.signal }).then(function (data) {
        list.setAttribute("data-term", term);
        while (list.firstChild) {
          list.removeChild(list.firstChild);
        }
        (data.results || []).forEach(function (person) {
          var option = document.createElement("option");
          option.value = person.email;
          option.label = person.name + (person.team ? " (" + person.team + ")" : "");
          list.appendChild(option);
        });
      }).catch(function () {
        /* offline or aborted: the field still takes a typed email */
      });
    }, 200);
    input.addEventListener("input", search);
  }

  document.querySelectorAll("[data-person-search]").forEach(initSearch);
})();
