/*
 * Time zone fields (input[data-timezone-picker], a TimezoneField with the <datalist> of
 * templates/_timezones.html). Without this file the browser's datalist suggests names and the
 * server checks what was typed; this only enhances.
 *
 * - The input becomes an ARIA 1.2 combobox over the datalist's names: type any part of a place
 *   ("new york", "paris", "kolk"), move with the arrow keys, Enter or a click picks, Escape
 *   closes. What is submitted is the input's text, exactly as without JavaScript.
 * - [data-timezone-suggest] (a profile whose zone was never chosen): when the field is empty,
 *   this device's zone (Intl) is filled in, unless it is the organization's (data-org-zone) or
 *   was turned down on this device before; a note says so and offers the organization's instead.
 *
 * Needs window.fgf from app.js (combobox, debounce, announce). CSP: no inline code or style.
 */
(function () {
  "use strict";

  if (!window.fgf) {
    return;
  }

  var MAX_SHOWN = 50;
  var DECLINED_KEY = "fgf:timezone-declined";

  function announce(message) {
    window.fgf.announce(message);
  }

  /** "America/Argentina/Buenos_Aires" -> "america argentina buenos aires" (search text). */
  function words(text) {
    return text.toLowerCase().replace(/[_/\-]+/g, " ").replace(/\s+/g, " ").trim();
  }

  function canonical(zone) {
    try {
      return new Intl.DateTimeFormat("en", { timeZone: zone }).resolvedOptions().timeZone;
    } catch (error) {
      return zone;
    }
  }

  function remembered() {
    try {
      return window.localStorage.getItem(DECLINED_KEY);
    } catch (error) {
      return null; // storage disabled
    }
  }

  function remember(zone) {
    try {
      window.localStorage.setItem(DECLINED_KEY, zone);
    } catch (error) {
      /* storage disabled: the suggestion may come back, nothing else */
    }
  }

  function describe(input, id, on) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) {
      return x && x !== id;
    });
    if (on) {
      ids.push(id);
    }
    if (ids.length) {
      input.setAttribute("aria-describedby", ids.join(" "));
    } else {
      input.removeAttribute("aria-describedby");
    }
  }

  /* ------------------------------------------------------------ searching */

  function search(entries, query) {
    var terms = words(query).split(" ").filter(Boolean);
    if (!terms.length) {
      return entries;
    }
    var place = terms.join(" ");
    var ranked = [];
    entries.forEach(function (entry) {
      for (var i = 0; i < terms.length; i += 1) {
        if (entry.text.indexOf(terms[i]) === -1) {
          return;
        }
      }
      // Best first: the place itself starts with what was typed, then any word does.
      var rank = 2;
      if (entry.place.indexOf(place) === 0 || entry.text.indexOf(place) === 0) {
        rank = 0;
      } else if ((" " + entry.text).indexOf(" " + terms[0]) !== -1) {
        rank = 1;
      }
      ranked.push({ entry: entry, rank: rank });
    });
    ranked.sort(function (a, b) {
      return a.rank - b.rank || a.entry.index - b.entry.index;
    });
    return ranked.map(function (r) {
      return r.entry;
    });
  }

  /* ------------------------------------------------------------ the combobox */

  function initPicker(input) {
    var list = document.getElementById(input.getAttribute("list") || "");
    if (!list || input.hasAttribute("role")) {
      return null;
    }
    var entries = Array.prototype.map.call(list.options, function (option, index) {
      var name = option.value;
      var parts = name.split("/");
      return {
        name: name,
        index: index,
        text: words(name),
        place: words(parts[parts.length - 1]),
      };
    });
    var byLower = {};
    entries.forEach(function (entry) {
      byLower[entry.name.toLowerCase()] = entry.name;
    });

    var prefix = input.id || "timezone";
    var listbox = document.createElement("ul");
    listbox.id = prefix + "-listbox";
    listbox.className = "tz-listbox";
    listbox.setAttribute("aria-label", "Matching time zones");
    var combo = document.createElement("div");
    combo.className = "tz-combo";
    input.parentNode.insertBefore(combo, input);
    combo.appendChild(input);
    combo.appendChild(listbox);
    input.removeAttribute("list"); // the browser's own popup would cover ours

    var shown = [];
    var box = window.fgf.combobox(input, listbox, {
      open: open,
      pick: function (index) {
        pick(shown[index].name);
      },
      onClose: function () {
        shown = [];
      },
    });

    function pick(name) {
      input.value = name;
      box.close();
      input.dispatchEvent(new Event("change", { bubbles: true }));
      announce(name + " chosen.");
    }

    function note(text) {
      var li = document.createElement("li");
      li.className = "tz-listbox__note";
      li.setAttribute("role", "option");
      li.setAttribute("aria-disabled", "true");
      li.id = prefix + "-note";
      li.textContent = text;
      listbox.appendChild(li);
    }

    function open() {
      var query = input.value.trim();
      var found = search(entries, query);
      shown = found.slice(0, MAX_SHOWN);
      listbox.textContent = "";
      shown.forEach(function (entry, i) {
        var li = box.option(prefix + "-option-" + i, "tz-listbox__option", function () {
          pick(entry.name);
        });
        li.setAttribute("data-zone", entry.name);
        li.textContent = entry.name;
        listbox.appendChild(li);
      });
      if (!found.length) {
        note("No time zone matches “" + query + "”.");
      } else if (found.length > shown.length) {
        note(found.length - shown.length + " more: type more of the name to narrow the list.");
      }
      box.show();
      var exact = query ? byLower[query.toLowerCase()] : null;
      box.setActive(exact && shown.length && shown[0].name === exact ? 0 : -1);
      announceCount(found.length === 1 ? "1 time zone found." : found.length + " time zones found.");
    }

    var announceCount = window.fgf.debounce(announce, 600);

    input.addEventListener("input", function () {
      if (input.value.trim()) {
        open();
      } else {
        box.close();
      }
    });

    return { names: byLower };
  }

  /* ------------------------------------------------------------ this device's zone */

  function suggest(input, names) {
    if (!input.hasAttribute("data-timezone-suggest") || input.value.trim()) {
      return;
    }
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (error) {
      return;
    }
    var name = zone && names[zone.toLowerCase()];
    var org = input.getAttribute("data-org-zone") || "";
    if (!name || canonical(name) === canonical(org) || remembered() === name) {
      return;
    }
    input.value = name;

    var hint = document.createElement("p");
    hint.className = "field__help tz-suggestion";
    hint.id = (input.id || "timezone") + "-suggested";
    hint.appendChild(document.createTextNode("Filled in from this device’s time zone. "));
    var undo = document.createElement("button");
    undo.type = "button";
    undo.className = "tz-suggestion__undo";
    undo.textContent = "Use the organization’s (" + org + ") instead";
    hint.appendChild(undo);
    var field = input.closest(".tz-combo") || input;
    field.insertAdjacentElement("afterend", hint);
    describe(input, hint.id, true);

    function withdraw() {
      hint.remove();
      describe(input, hint.id, false);
    }

    undo.addEventListener("click", function () {
      input.value = "";
      remember(name);
      withdraw();
      input.focus();
      announce("Time zone cleared: the organization’s will be used.");
    });
    function changed() {
      if (input.value !== name) {
        withdraw();
      }
    }
    input.addEventListener("input", changed);
    input.addEventListener("change", changed);
    if (input.form) {
      input.form.addEventListener("submit", function () {
        if (!input.value.trim()) {
          remember(name); // cleared on purpose: do not suggest it again here
        }
      });
    }
  }

  /* ------------------------------------------------------------------ init */

  function init() {
    document.querySelectorAll("input[data-timezone-picker]").forEach(function (input) {
      var picker = initPicker(input);
      if (picker) {
        suggest(input, picker.names);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
