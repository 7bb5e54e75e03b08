/*
 * Story and quote forms: live preview and the colleague picker. The forms work without this
 * file (a "Preview" button, a plain email field and a names textarea); this only enhances.
 *
 * - [data-preview-source] textarea + [data-preview] panel: as the person types (debounced),
 *   POST the Markdown to the panel's data-preview-url and show the HTML the server renders with
 *   the very renderer used for the saved story. The HTML is sanitized server-side.
 * - [data-colleague-picker]: an ARIA 1.2 combobox over /api/colleagues (search-as-you-type,
 *   arrow keys, Enter, Escape, Backspace removes the last person). People without an account are
 *   added by name. The picker writes back into the original fields, so the server sees exactly
 *   what the no-JS form would send. Accounts are listed first; "Add … without an account" is
 *   always last and never chosen by default: nothing is highlighted until the arrow keys move
 *   (so ArrowDown + Enter picks the first real person), and Enter with nothing highlighted
 *   adds only a single matching account. A name credited without an account gets no
 *   notification and counts as unknown in insights, so it must be a deliberate choice.
 *
 * Needs window.fgf from app.js (debounce, postJSON, getJSON, announce). CSP: no inline code.
 */
(function () {
  "use strict";

  var fgf = window.fgf;
  if (!fgf) {
    return;
  }

  /* ------------------------------------------------------------ no-JS only */

  function hideNoJsOnly(root) {
    root.querySelectorAll("[data-nojs-only]").forEach(function (el) {
      el.hidden = true;
      // A disabled default button also stops Enter in a text field from submitting the form.
      el.querySelectorAll("button, input").forEach(function (control) {
        control.disabled = true;
      });
    });
  }

  /* ------------------------------------------------------------ live preview */

  function initPreview(form) {
    var source = form.querySelector("[data-preview-source]");
    var panel = form.querySelector("[data-preview]");
    if (!source || !panel) {
      return;
    }
    var output = panel.querySelector("[data-preview-output]");
    var status = panel.querySelector("[data-preview-status]");
    var url = panel.getAttribute("data-preview-url");
    var controller = null;
    var lastSent = null;
    panel.hidden = false;

    function setStatus(text) {
      if (status) {
        status.textContent = text;
      }
    }

    function render() {
      var text = source.value;
      if (text === lastSent) {
        return;
      }
      lastSent = text;
      if (controller) {
        controller.abort();
      }
      if (!text.trim()) {
        output.innerHTML = "";
        panel.classList.add("preview--empty");
        panel.removeAttribute("aria-busy");
        setStatus("The preview appears here as you type.");
        return;
      }
      controller = new AbortController();
      panel.setAttribute("aria-busy", "true");
      fgf
        .postJSON(url, { markdown: text }, { signal: controller.signal })
        .then(function (data) {
          // Sanitized by app.richtext on the server: the same HTML the saved story gets.
          output.innerHTML = data.html;
          panel.classList.remove("preview--empty");
          panel.removeAttribute("aria-busy");
          setStatus("");
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") {
            return;
          }
          lastSent = null; // try again on the next keystroke
          panel.removeAttribute("aria-busy");
          setStatus("The preview isn’t available right now. Your text is safe; keep writing.");
        });
    }

    source.addEventListener("input", fgf.debounce(render, 350));
    render();
  }

  /* --------------------------------------------------------- colleague picker */

  var pickerCount = 0;

  function initPicker(root) {
    var emailsInput = root.querySelector("[data-picker-emails]");
    var namesInput = root.querySelector("[data-picker-names]");
    if (!emailsInput || !namesInput) {
      return;
    }
    pickerCount += 1;
    var prefix = "colleague-picker-" + pickerCount;
    var url = root.getAttribute("data-search-url");
    var max = parseInt(root.getAttribute("data-max"), 10) || 10;
    var selected = [];
    var options = [];
    var wantFirst = false; // ArrowDown pressed before the results arrived
    var controller = null;
    var lastQuery = "";

    try {
      JSON.parse(root.getAttribute("data-selected") || "[]").forEach(function (person) {
        selected.push({ id: person.id, name: person.name, email: person.email, free: false });
      });
    } catch (ignored) {
      /* keep an empty selection; the hidden field still holds the emails */
    }
    namesInput.value.split("\n").forEach(function (line) {
      var name = line.trim();
      if (name) {
        selected.push({ id: null, name: name, email: null, free: true });
      }
    });

    /* Build the widget inside the first field, keeping its label, help and errors. */
    var field = emailsInput.closest(".field");
    var namesField = namesInput.closest(".field");
    var label = field.querySelector(".field__label");
    var help = field.querySelector(".field__help");
    label.textContent = "Colleagues to recognize ";
    var optional = document.createElement("span");
    optional.className = "field__optional";
    optional.textContent = "(up to " + max + ")";
    label.appendChild(optional);
    if (help) {
      help.textContent =
        "Type a name or an email and pick from the list. Someone without an account? " +
        "Type their name and choose “Add … without an account”.";
    }
    var namesError = namesField && namesField.querySelector(".field__error");
    if (namesError) {
      field.insertBefore(namesError, emailsInput);
    }

    var chips = document.createElement("ul");
    chips.className = "picker__chips";
    chips.setAttribute("aria-label", "Colleagues you’re recognizing");

    var combo = document.createElement("div");
    combo.className = "picker__combo";
    var input = document.createElement("input");
    input.type = "text";
    input.id = prefix + "-input";
    input.className = "input picker__input";
    input.autocomplete = "off";
    input.spellcheck = false;
    var describedBy = [emailsInput.getAttribute("aria-describedby")];
    if (namesError) {
      describedBy.push(namesError.id);
    }
    describedBy = describedBy.filter(Boolean).join(" ");
    if (describedBy) {
      input.setAttribute("aria-describedby", describedBy);
    }
    if (emailsInput.getAttribute("aria-invalid") || namesError) {
      input.setAttribute("aria-invalid", "true");
    }
    var listbox = document.createElement("ul");
    listbox.id = prefix + "-listbox";
    listbox.className = "picker__listbox";
    listbox.setAttribute("aria-label", "Matching colleagues");
    combo.appendChild(input);
    combo.appendChild(listbox);

    emailsInput.hidden = true;
    emailsInput.insertAdjacentElement("afterend", chips);
    chips.insertAdjacentElement("afterend", combo);
    label.setAttribute("for", input.id);
    if (namesField) {
      namesField.hidden = true;
    }
    root.classList.add("picker--enhanced");

    /* -- state -> fields and chips */

    function sync() {
      emailsInput.value = selected
        .filter(function (p) {
          return !p.free;
        })
        .map(function (p) {
          return p.email;
        })
        .join(", ");
      namesInput.value = selected
        .filter(function (p) {
          return p.free;
        })
        .map(function (p) {
          return p.name;
        })
        .join("\n");
    }

    function renderChips() {
      chips.textContent = "";
      selected.forEach(function (person, index) {
        var li = document.createElement("li");
        li.className = "chip picker__chip" + (person.free ? " picker__chip--free" : "");
        var name = document.createElement("span");
        name.textContent = person.name;
        li.appendChild(name);
        if (person.free) {
          var note = document.createElement("span");
          note.className = "picker__chip-note";
          note.textContent = "no account";
          li.appendChild(note);
        }
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "picker__remove";
        remove.setAttribute("aria-label", "Remove " + person.name);
        remove.textContent = "×";
        remove.addEventListener("click", function () {
          removeAt(index);
          input.focus();
        });
        li.appendChild(remove);
        chips.appendChild(li);
      });
      chips.hidden = selected.length === 0;
    }

    function removeAt(index) {
      var person = selected.splice(index, 1)[0];
      sync();
      renderChips();
      if (person) {
        fgf.announce("Removed " + person.name + ".");
      }
    }

    function add(person) {
      var duplicate = selected.some(function (p) {
        return person.free
          ? p.free && p.name.toLowerCase() === person.name.toLowerCase()
          : !p.free && p.id === person.id;
      });
      if (duplicate) {
        fgf.announce(person.name + " is already on the list.");
      } else if (selected.length >= max) {
        fgf.announce("You can recognize up to " + max + " colleagues in one story.");
        return;
      } else {
        selected.push(person);
        sync();
        renderChips();
        fgf.announce("Added " + person.name + ".");
      }
      input.value = "";
      lastQuery = "";
      box.close();
    }

    /* -- listbox */

    var box = fgf.combobox(input, listbox, {
      open: function () {
        lastQuery = "";
        search();
        wantFirst = input.value.trim() !== "";
      },
      pick: function (index) {
        add(options[index].person);
      },
      keydown: pickerKeydown,
      onClose: function () {
        wantFirst = false;
        options = [];
      },
    });

    function samePerson(a, b) {
      return a.free ? b.free : !b.free && a.id === b.id;
    }

    function open(results, query) {
      // Keep what the arrow keys chose when newer results replace the list.
      var chosen = box.active >= 0 && options[box.active] ? options[box.active].person : null;
      listbox.textContent = "";
      options = [];
      var taken = {};
      selected.forEach(function (p) {
        if (!p.free) {
          taken[p.id] = true;
        }
      });
      results
        .filter(function (r) {
          return !taken[r.id];
        })
        .forEach(function (r) {
          options.push({
            person: { id: r.id, name: r.name, email: r.email, free: false },
            main: r.name,
            detail: r.email + (r.team ? " · " + r.team : ""),
          });
        });
      var name = query.trim();
      if (name.length >= 2 && name.indexOf("@") === -1) {
        options.push({
          person: { id: null, name: name, email: null, free: true },
          main: "Add “" + name + "” without an account",
          detail: "",
          free: true,
        });
      }
      if (!options.length) {
        var empty = document.createElement("li");
        empty.className = "picker__empty";
        empty.setAttribute("role", "option");
        empty.setAttribute("aria-disabled", "true");
        empty.id = prefix + "-empty";
        empty.textContent = "No colleague matches “" + name + "”.";
        listbox.appendChild(empty);
      }
      options.forEach(function (option, i) {
        var className = "picker__option" + (option.free ? " picker__option--free" : "");
        var li = box.option(prefix + "-option-" + i, className, function () {
          add(option.person);
        });
        var main = document.createElement("span");
        main.className = "picker__option-name";
        main.textContent = option.main;
        li.appendChild(main);
        if (option.detail) {
          var detail = document.createElement("span");
          detail.className = "picker__option-detail";
          detail.textContent = option.detail;
          li.appendChild(detail);
        }
        listbox.appendChild(li);
      });
      box.show();
      var next = -1;
      if (chosen) {
        next = options.findIndex(function (o) {
          return samePerson(chosen, o.person);
        });
      }
      if (next < 0 && (chosen || wantFirst) && options.length) {
        next = 0; // the arrow keys were used: the first row, a real person when there is one
      }
      wantFirst = false;
      box.setActive(next);
      var found = options.filter(function (o) {
        return !o.free;
      }).length;
      announceResults(found === 1 ? "1 colleague found." : found + " colleagues found.");
    }

    var announceResults = fgf.debounce(function (text) {
      fgf.announce(text);
    }, 600);

    var search = fgf.debounce(function () {
      var query = input.value.trim();
      if (query === lastQuery) {
        return;
      }
      lastQuery = query;
      if (controller) {
        controller.abort();
      }
      if (!query) {
        box.close();
        return;
      }
      controller = new AbortController();
      fgf
        .getJSON(url, { q: query }, { signal: controller.signal })
        .then(function (data) {
          if (input.value.trim() === query) {
            open(data.results || [], query);
          }
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") {
            return;
          }
          lastQuery = "";
          open([], query); // still offer "Add … without an account"
        });
    }, 200);

    input.addEventListener("input", search);

    /* The picker's own keys; the arrows, Enter on a highlighted row, Escape and Tab are
       fgf.combobox's. */
    function pickerKeydown(event, isOpen) {
      switch (event.key) {
        case "Enter":
          event.preventDefault(); // never submit the whole form from the picker
          if (isOpen && box.active < 0) {
            enterWithoutChoice();
            return true;
          }
          return false;
        case "Escape":
          if (!isOpen && input.value) {
            event.preventDefault();
            input.value = "";
            lastQuery = "";
            return true;
          }
          return false;
        case "Backspace":
          if (!input.value && selected.length) {
            removeAt(selected.length - 1);
          }
          return true;
        default:
          return false;
      }
    }

    /* Enter with nothing highlighted: one matching account is unambiguous; anything else
       (several people, or only "Add … without an account") needs a deliberate choice. */
    function enterWithoutChoice() {
      var people = options.filter(function (o) {
        return !o.free;
      });
      if (people.length === 1) {
        add(people[0].person);
      } else if (options.length) {
        fgf.announce(
          people.length
            ? "Use the arrow keys to choose a colleague, then press Enter."
            : "Press the down arrow to choose “" + options[0].person.name + "” without an account, then Enter."
        );
      }
    }

    sync();
    renderChips();
  }

  /* ------------------------------------------------------------------ init */

  function init() {
    hideNoJsOnly(document);
    document.querySelectorAll("form[data-submission-form]").forEach(initPreview);
    document.querySelectorAll("[data-colleague-picker]").forEach(initPicker);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
