/*
 * Feel Good Fridays: progressive enhancements. Every page works without this file.
 *
 * - data-confirm="..." on a <form>, a submit button or a link asks before going ahead.
 * - Flash messages get a working "dismiss" button.
 * - <details data-menu> menus close on Escape, on outside click, and when another opens.
 * - The form error summary takes focus on load; its links focus the field.
 * - <textarea maxlength> gets a live character count.
 * - A row of tabs too wide for the screen scrolls the current tab into view.
 * - POST forms are protected against double submission.
 * - window.fgf = { debounce, postJSON, getJSON, csrfToken, announce, combobox, pollProgress,
 *   showProgress } for feature scripts.
 *
 * CSP: script-src 'self', so no inline handlers anywhere; everything is wired here.
 */
(function () {
  "use strict";

  /* ---------------------------------------------------------------- helpers */

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /** Delay `fn` until `wait` ms have passed without another call (search-as-you-type). */
  function debounce(fn, wait) {
    var timer = null;
    var delay = typeof wait === "number" ? wait : 250;
    function debounced() {
      var ctx = this;
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fn.apply(ctx, args);
      }, delay);
    }
    debounced.cancel = function () {
      clearTimeout(timer);
    };
    return debounced;
  }

  /* Resolves with the parsed body (JSON, or text for other types); rejects with an Error
     carrying .status and .data when the response is not 2xx. */
  function handleResponse(resp) {
    var type = resp.headers.get("Content-Type") || "";
    var body = type.indexOf("json") !== -1 ? resp.json() : resp.text();
    return body.then(function (data) {
      if (!resp.ok) {
        var message = data && data.error ? data.error : "Request failed (" + resp.status + ")";
        var err = new Error(message);
        err.status = resp.status;
        err.data = data;
        throw err;
      }
      return data;
    });
  }

  /**
   * POST `data` as JSON with the CSRF token in the X-CSRFToken header (Flask-WTF reads it).
   * options.signal: an AbortSignal, to cancel a stale request.
   */
  function postJSON(url, data, options) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(),
        "X-Requested-With": "fetch",
      },
      body: JSON.stringify(data === undefined ? {} : data),
      signal: options && options.signal,
    }).then(handleResponse);
  }

  /** GET `url` with `params` (object) as query string; resolves with parsed JSON. */
  function getJSON(url, params, options) {
    var full = url;
    if (params) {
      var query = new URLSearchParams(params).toString();
      if (query) {
        full += (url.indexOf("?") === -1 ? "?" : "&") + query;
      }
    }
    return fetch(full, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" },
      signal: options && options.signal,
    }).then(handleResponse);
  }

  /** Read `message` to screen-reader users via the polite live region in base.html. */
  function announce(message) {
    var region = document.getElementById("fgf-live");
    if (!region) {
      return;
    }
    region.textContent = "";
    setTimeout(function () {
      region.textContent = message;
    }, 50);
  }

  /**
   * The keyboard and list half of an ARIA 1.2 combobox (the colleague and time zone pickers):
   * `input` controls `listbox` (a <ul> with its id and aria-label), whose rows the feature adds
   * with option(). ArrowDown opens (handlers.open) or moves down, ArrowUp moves up, Enter picks
   * the highlighted row (handlers.pick(index)), Escape closes, Tab and leaving the field close.
   * handlers.keydown(event, isOpen), when given, runs first and returns true when it handled the
   * key itself; handlers.onClose() forgets the feature's own rows.
   */
  function combobox(input, listbox, handlers) {
    var box = { active: -1 };

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listbox.id);
    listbox.classList.add("combo-listbox");
    listbox.setAttribute("role", "listbox");
    listbox.hidden = true;

    function rows() {
      return listbox.querySelectorAll("[role='option']:not([aria-disabled='true'])");
    }

    box.close = function () {
      listbox.hidden = true;
      listbox.textContent = "";
      box.active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      if (handlers.onClose) {
        handlers.onClose();
      }
    };

    box.show = function () {
      listbox.hidden = false;
      input.setAttribute("aria-expanded", "true");
    };

    box.setActive = function (index) {
      var items = rows();
      items.forEach(function (item, i) {
        var on = i === index;
        item.classList.toggle("is-active", on);
        item.setAttribute("aria-selected", on ? "true" : "false");
      });
      box.active = index;
      if (index >= 0 && items[index]) {
        input.setAttribute("aria-activedescendant", items[index].id);
        items[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    };

    /** A new row (appended by the caller), picked by a click without losing the focus. */
    box.option = function (id, className, onPick) {
      var li = document.createElement("li");
      li.id = id;
      li.className = className;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      // mousedown would take the focus from the input before the click lands.
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
      });
      li.addEventListener("click", function () {
        onPick();
        input.focus();
      });
      return li;
    };

    input.addEventListener("keydown", function (event) {
      var isOpen = !listbox.hidden;
      if (handlers.keydown && handlers.keydown(event, isOpen)) {
        return;
      }
      var count = rows().length;
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          if (!isOpen) {
            handlers.open();
          } else if (count) {
            box.setActive((box.active + 1) % count);
          }
          break;
        case "ArrowUp":
          if (isOpen && count) {
            event.preventDefault();
            box.setActive(box.active <= 0 ? count - 1 : box.active - 1);
          }
          break;
        case "Enter":
          if (isOpen && box.active >= 0) {
            event.preventDefault(); // pick, do not submit the form
            handlers.pick(box.active);
          }
          break;
        case "Escape":
          if (isOpen) {
            event.preventDefault();
            event.stopPropagation();
            box.close();
          }
          break;
        case "Tab":
          box.close();
          break;
        default:
          break;
      }
    });

    input.addEventListener("blur", function () {
      setTimeout(box.close, 150); // let a click on an option land first
    });

    return box;
  }

  /**
   * Follows a job through its JSON progress endpoint (an edition being sent): each answer goes
   * to handlers.data(data); then handlers.done(data) when it says done, else
   * handlers.wait(delay, again) arranges the next request (the pages differ in how a hidden tab
   * waits). A failed request tells handlers.error(failures) and waits twice as long each time, at
   * most a minute. Returns the function that makes one request.
   */
  function pollProgress(url, interval, handlers) {
    var failures = 0;
    function request() {
      getJSON(url)
        .then(function (data) {
          failures = 0;
          handlers.data(data);
          if (data.done) {
            handlers.done(data);
          } else {
            handlers.wait(interval, request);
          }
        })
        .catch(function () {
          failures += 1;
          if (handlers.error) {
            handlers.error(failures);
          }
          handlers.wait(Math.min(interval * Math.pow(2, failures), 60000), request);
        });
    }
    return request;
  }

  /** The sending figures' <progress> bar and status badge (either may be missing). */
  function showProgress(meter, badge, data) {
    if (meter) {
      meter.value = data.percent;
      meter.textContent = data.percent + "%";
    }
    if (badge && data.status) {
      badge.className = "badge badge--" + data.status;
      badge.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1);
    }
  }

  window.fgf = {
    debounce: debounce,
    postJSON: postJSON,
    getJSON: getJSON,
    csrfToken: csrfToken,
    announce: announce,
    combobox: combobox,
    pollProgress: pollProgress,
    showProgress: showProgress,
  };

  /* ---------------------------------------------------------- confirmations */

  // Capture phase: runs before any feature script's own submit handler.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message =
        (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm]");
    if (link && !window.confirm(link.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  /* ---------------------------------------------------- double-submit guard */

  // Bubble phase: if a feature script took over the submit (preventDefault), leave it alone.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var method = (form.getAttribute("method") || "get").toLowerCase();
    if (event.defaultPrevented || method !== "post") {
      return;
    }
    if (form.getAttribute("target") || form.hasAttribute("data-allow-resubmit")) {
      return;
    }
    if (form.getAttribute("data-submitting") === "true") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitting", "true");
    var button = event.submitter;
    if (button) {
      button.classList.add("is-busy");
      button.setAttribute("aria-busy", "true");
    }
    // Re-arm after a while in case the response was a download or the network failed.
    setTimeout(function () {
      releaseForm(form);
    }, 8000);
  });

  function releaseForm(form) {
    form.removeAttribute("data-submitting");
    form.querySelectorAll(".is-busy").forEach(function (button) {
      button.classList.remove("is-busy");
      button.removeAttribute("aria-busy");
    });
  }

  // Back/forward cache restores the page as it was: un-stick any busy forms.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitting]").forEach(releaseForm);
  });

  /* ---------------------------------------------------------------- alerts */

  function initDismiss(root) {
    root.querySelectorAll("[data-dismiss]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (!button) {
      return;
    }
    var alert = button.closest(".alert");
    if (!alert) {
      return;
    }
    var stack = alert.parentElement;
    alert.remove();
    if (stack && stack.classList.contains("flash-stack") && !stack.children.length) {
      stack.remove();
    }
    var main = document.getElementById("content");
    if (main) {
      main.focus({ preventScroll: true });
    }
  });

  /* ----------------------------------------------------------------- menus */

  function openMenus() {
    return document.querySelectorAll("details[data-menu][open]");
  }

  document.addEventListener(
    "toggle",
    function (event) {
      var menu = event.target;
      if (!menu.matches || !menu.matches("details[data-menu]") || !menu.open) {
        return;
      }
      openMenus().forEach(function (other) {
        if (other !== menu) {
          other.open = false;
        }
      });
    },
    true
  );

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.open = false;
      }
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    openMenus().forEach(function (menu) {
      var hadFocus = menu.contains(document.activeElement);
      menu.open = false;
      if (hadFocus) {
        menu.querySelector("summary").focus();
      }
    });
  });

  /* --------------------------------------------------------- error summary */

  function initErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-error-summary] a[href^='#']");
    if (!link) {
      return;
    }
    var target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    if (!target) {
      return;
    }
    event.preventDefault();
    // Scroll so the label (above the control) is visible too, then focus the control.
    var field = target.closest(".field") || target;
    field.scrollIntoView({ block: "start" });
    target.focus({ preventScroll: true });
  });

  /* -------------------------------------------------------- character count */

  function initCharCounts(root) {
    root.querySelectorAll("textarea[maxlength]:not([data-no-count])").forEach(function (area) {
      if (area.getAttribute("data-count-ready")) {
        return;
      }
      var max = parseInt(area.getAttribute("maxlength"), 10);
      if (!max) {
        return;
      }
      area.setAttribute("data-count-ready", "true");
      var counter = document.createElement("p");
      counter.className = "char-count";
      counter.id = (area.id || "textarea") + "-count";
      area.insertAdjacentElement("afterend", counter);

      var speak = debounce(function (text) {
        announce(text);
      }, 1200);

      function update(fromInput) {
        var left = max - area.value.length;
        var text = left === 1 ? "1 character left" : left + " characters left";
        var near = left <= Math.max(20, Math.round(max * 0.1));
        counter.textContent = text;
        counter.classList.toggle("is-near-limit", near);
        if (fromInput && near) {
          speak(text);
        }
      }

      area.addEventListener("input", function () {
        update(true);
      });
      update(false);
    });
  }

  /* ------------------------------------------------------------------ tabs */

  // On a phone a row of tabs scrolls sideways; the current one may start out of sight (the
  // admin's "Settings" behind the edge), so bring it into view within its row only.
  function revealCurrentTabs(root) {
    root.querySelectorAll(".tabs ul").forEach(function (row) {
      var current = row.querySelector("[aria-current]");
      if (!current || row.scrollWidth <= row.clientWidth) {
        return;
      }
      var start = current.getBoundingClientRect().left - row.getBoundingClientRect().left;
      var end = start + current.offsetWidth;
      if (start < 0 || end > row.clientWidth) {
        row.scrollLeft += start - (row.clientWidth - current.offsetWidth) / 2;
      }
    });
  }

  /* ------------------------------------------------------------------ init */

  function init() {
    initDismiss(document);
    initErrorSummary();
    initCharCounts(document);
    revealCurrentTabs(document);
    document.documentElement.classList.add("js");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
