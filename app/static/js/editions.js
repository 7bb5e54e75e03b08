/*
 * Upcoming edition: reorder by drag and drop, and move up / down without a page reload.
 *
 * Without this file every button is an ordinary form (Up, Down, Feature, Remove...) and the page
 * reloads after each change. With it:
 * - items can be dragged (the featured story stays on top); the new order is saved at once;
 * - Up / Down save in the background and keep keyboard focus on the button that was pressed;
 * - every answer carries the edition's new version, copied into all the page's forms, so the
 *   next change is checked against what this editor saw; a refusal (someone else changed the
 *   edition) is shown with a link to reload, and the list goes back to the saved order.
 * - an edition on its way ("Sending — N of M delivered") follows its progress every few
 *   seconds (the edition page's JSON) until it is sent, then says so and links to it.
 */
(function () {
  "use strict";

  var root;
  var list;

  function items() {
    return Array.prototype.slice.call(list.querySelectorAll("[data-entry-id]"));
  }

  function currentVersion() {
    return parseInt(root.getAttribute("data-version"), 10);
  }

  function setVersion(version) {
    if (typeof version !== "number") {
      return;
    }
    root.setAttribute("data-version", String(version));
    root.querySelectorAll('input[name="version"]').forEach(function (input) {
      input.value = String(version);
    });
  }

  function isPinned(li) {
    return li.getAttribute("data-pinned") === "true";
  }

  /** Positions and Up/Down availability after any change of order. */
  function refresh() {
    var all = items();
    all.forEach(function (li, index) {
      var position = li.querySelector("[data-position]");
      if (position) {
        position.textContent = String(index + 1);
      }
      var up = li.querySelector('[data-move-button="up"]');
      var down = li.querySelector('[data-move-button="down"]');
      var pinned = isPinned(li);
      if (up) {
        up.disabled = index === 0 || pinned || isPinned(all[index - 1]);
      }
      if (down) {
        down.disabled = index === all.length - 1 || pinned;
      }
    });
  }

  function applyOrder(order) {
    if (!Array.isArray(order)) {
      return;
    }
    var byId = {};
    items().forEach(function (li) {
      byId[li.getAttribute("data-entry-id")] = li;
    });
    order.forEach(function (id) {
      var li = byId[String(id)];
      if (li) {
        list.appendChild(li);
      }
    });
    refresh();
  }

  function showError(message) {
    var old = root.querySelector("[data-edition-error]");
    if (old) {
      old.remove();
    }
    var box = document.createElement("div");
    box.className = "alert alert--error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-edition-error", "");
    var body = document.createElement("div");
    body.className = "alert__body";
    var text = document.createElement("p");
    text.textContent = message + " ";
    var reload = document.createElement("a");
    reload.href = window.location.pathname + "#items";
    reload.textContent = "Reload the edition";
    reload.addEventListener("click", function (event) {
      event.preventDefault();
      window.location.reload();
    });
    text.appendChild(reload);
    body.appendChild(text);
    box.appendChild(body);
    root.insertBefore(box, root.firstChild);
  }

  function flash(li) {
    li.classList.add("is-moved");
    setTimeout(function () {
      li.classList.remove("is-moved");
    }, 900);
  }

  /* ------------------------------------------------------------------- up / down */

  function onMove(event) {
    var form = event.target.closest("form[data-move]");
    if (!form || event.defaultPrevented) {
      return;
    }
    event.preventDefault();
    var li = form.closest("[data-entry-id]");
    var direction = form.querySelector('input[name="direction"]').value;
    var button = form.querySelector("button");
    var before = items().map(function (el) {
      return el.getAttribute("data-entry-id");
    });
    window.fgf
      .postJSON(form.action, { version: currentVersion(), direction: direction })
      .then(function (data) {
        setVersion(data.version);
        applyOrder(data.order);
        flash(li);
        var position = items().indexOf(li) + 1;
        window.fgf.announce(
          (data.moved ? li.getAttribute("data-name") + " is now number " + position : data.message)
        );
        // Keep focus where the keyboard user is; at an end, hop to the other button.
        var target = button.disabled
          ? li.querySelector('[data-move-button="' + (direction === "up" ? "down" : "up") + '"]')
          : button;
        if (target && !target.disabled) {
          target.focus();
        }
      })
      .catch(function (error) {
        applyOrder(before);
        showError(error.message);
        window.fgf.announce(error.message);
      });
  }

  /* ---------------------------------------------------------------- drag and drop */

  var dragged = null;
  var startOrder = null;

  function clearMarks() {
    items().forEach(function (li) {
      li.classList.remove("is-drop-before", "is-drop-after");
    });
  }

  function dropPlace(li, event) {
    var box = li.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    if (isPinned(li)) {
      after = true; // nothing goes above the featured story
    }
    return after;
  }

  function initDrag() {
    items().forEach(function (li) {
      if (isPinned(li)) {
        return;
      }
      li.setAttribute("draggable", "true");
      var handle = li.querySelector("[data-handle]");
      if (handle) {
        handle.hidden = false;
      }
    });

    list.addEventListener("dragstart", function (event) {
      var li = event.target.closest && event.target.closest("[data-entry-id]");
      if (!li || isPinned(li)) {
        return;
      }
      dragged = li;
      startOrder = items().map(function (el) {
        return el.getAttribute("data-entry-id");
      });
      li.classList.add("is-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", li.getAttribute("data-entry-id"));
    });

    list.addEventListener("dragover", function (event) {
      if (!dragged) {
        return;
      }
      var li = event.target.closest("[data-entry-id]");
      if (!li || li === dragged) {
        return;
      }
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      clearMarks();
      li.classList.add(dropPlace(li, event) ? "is-drop-after" : "is-drop-before");
    });

    list.addEventListener("drop", function (event) {
      if (!dragged) {
        return;
      }
      var li = event.target.closest("[data-entry-id]");
      event.preventDefault();
      clearMarks();
      if (li && li !== dragged) {
        if (dropPlace(li, event)) {
          li.after(dragged);
        } else {
          li.before(dragged);
        }
      }
      save(dragged);
    });

    list.addEventListener("dragend", function () {
      clearMarks();
      if (dragged) {
        dragged.classList.remove("is-dragging");
      }
      dragged = null;
    });
  }

  function save(li) {
    var order = items().map(function (el) {
      return parseInt(el.getAttribute("data-entry-id"), 10);
    });
    var previous = startOrder;
    if (previous && previous.join(",") === order.join(",")) {
      return;
    }
    refresh();
    window.fgf
      .postJSON(list.getAttribute("data-reorder-url"), { version: currentVersion(), order: order })
      .then(function (data) {
        setVersion(data.version);
        applyOrder(data.order);
        flash(li);
        window.fgf.announce(
          li.getAttribute("data-name") + " is now number " + (items().indexOf(li) + 1)
        );
      })
      .catch(function (error) {
        applyOrder(previous);
        showError(error.message);
        window.fgf.announce(error.message);
      });
  }

  function init() {
    root = document.querySelector("[data-edition]");
    list = root && root.querySelector("[data-edition-items]");
    if (!list) {
      return;
    }
    list.addEventListener("submit", onMove);
    initDrag();
    refresh();
  }

  /* ------------------------------------------------------------ on its way */

  var SENDING_INTERVAL = 4000;

  function followSending(card) {
    var url = card.getAttribute("data-progress-url");
    var line = card.querySelector("[data-sending-line]");
    var meter = card.querySelector("[data-sending-meter]");
    var badge = card.querySelector("[data-sending-badge] .badge");
    var link = card.querySelector("[data-sending-link]");

    function show(data) {
      var failed = data.failed ? ", " + data.failed + " failed" : "";
      if (data.status === "scheduled") {
        line.textContent = "Sending — starts within a minute";
      } else {
        var verb = data.done ? "Sent" : "Sending";
        line.textContent = verb + " — " + data.sent + " of " + data.total + " delivered" + failed;
      }
      window.fgf.showProgress(meter, badge, data);
      [["[data-send-capped] strong", "[data-send-capped]", data.paused],
       ["[data-send-estimate]", "[data-send-estimate]", data.estimate]].forEach(function (l) {
        var box = card.querySelector(l[1]);
        var text = card.querySelector(l[0]);
        if (box && text) {
          text.textContent = l[2] || "";
          box.hidden = !l[2];
        }
      });
    }

    /* A hidden tab asks nothing; it looks again every SENDING_INTERVAL until it is visible. */
    function wait(delay, request) {
      window.setTimeout(function () {
        if (document.visibilityState === "hidden") {
          wait(SENDING_INTERVAL, request);
        } else {
          request();
        }
      }, delay);
    }

    var poll = window.fgf.pollProgress(url, SENDING_INTERVAL, {
      data: show,
      done: function () {
        if (link) {
          link.firstChild.textContent = "See the sent edition";
        }
        window.fgf.announce(line.textContent);
      },
      wait: wait,
    });

    if (line && url) {
      wait(SENDING_INTERVAL, poll);
    }
  }

  function initSending() {
    if (!window.fgf) {
      return;
    }
    document.querySelectorAll("[data-sending]").forEach(followSending);
  }

  function start() {
    initSending();
    init();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
