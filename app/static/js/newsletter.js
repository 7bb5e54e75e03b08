/*
 * Feel Good Fridays: live sending progress on an edition page (editors).
 *
 * The section carrying data-progress-url polls that JSON endpoint every few seconds while the
 * edition is sending or has deliveries pending, updates the figures and the <progress> bar,
 * announces completion to screen readers, and stops when everything is done (or the tab is
 * hidden, resuming when it is visible again). Without JavaScript the page shows the figures
 * of the moment it was loaded. It also follows an edition handed to the sender but not yet
 * taken ("send now"): the heading goes from "Starting to send" to "Sending" to "Sent". Until
 * the recipients are counted (no delivery rows yet) the figures stay "—", and once everything
 * is sent the "on its way" message above the page says it has been sent.
 */
(function () {
  "use strict";

  var INTERVAL = 3000;
  var section = document.querySelector("[data-progress-url]");
  if (!section || !window.fgf) {
    return;
  }
  var url = section.getAttribute("data-progress-url");
  var meter = section.querySelector("[data-progress-meter]");
  var note = section.querySelector("[data-progress-note]");
  var badge = section.querySelector("[data-progress-badge] .badge");
  var title = section.querySelector("[data-progress-title]");
  var TITLES = { scheduled: "Starting to send", sending: "Sending", sent: "Sent" };
  var lastStatus = section.getAttribute("data-progress-status");
  var timer = null;
  var finished = false;

  function show(data) {
    var counting = !data.total && !data.done; // no delivery rows yet: not "0 recipients"
    ["total", "sent", "failed", "pending"].forEach(function (key) {
      var el = section.querySelector('[data-progress="' + key + '"]');
      if (el) {
        el.textContent = counting ? "\u2014" : String(data[key]);
      }
    });
    window.fgf.showProgress(meter, badge, data);
    if (title && TITLES[data.status]) {
      title.textContent = TITLES[data.status];
    }
    [["[data-send-capped] strong", "[data-send-capped]", data.paused],
     ["[data-send-estimate]", "[data-send-estimate]", data.estimate]].forEach(function (line) {
      var box = section.querySelector(line[1]);
      var text = section.querySelector(line[0]);
      if (box && text) {
        text.textContent = line[2] || "";
        box.hidden = !line[2];
      }
    });
    if (data.status === "sending" && lastStatus === "scheduled" && note) {
      note.textContent = "Updates by itself while sending.";
      window.fgf.announce("Sending started.");
    }
    lastStatus = data.status;
  }

  function finish(data) {
    finished = true;
    stop();
    if (note) {
      note.textContent = "All done: " + data.sent + " sent, " + data.failed + " failed.";
    }
    var preview = document.querySelector("[data-progress-preview]");
    if (preview) {
      preview.hidden = true; // what the page shows is now what was sent
    }
    // The flash from "send now" ("… is on its way") is stale now: it says it has been sent.
    var flash = document.querySelector(
      ".flash-stack .alert--success .alert__body p, .flash-stack .alert--info .alert__body p"
    );
    var done = section.getAttribute("data-progress-done");
    if (flash && done) {
      flash.textContent = done;
    }
    window.fgf.announce("Sending finished: " + data.sent + " sent, " + data.failed + " failed.");
  }

  var poll = window.fgf.pollProgress(url, INTERVAL, {
    data: show,
    done: finish,
    error: function (failures) {
      if (note && failures >= 3) {
        note.textContent = "Can’t reach the server; retrying.";
      }
    },
    wait: schedule,
  });

  function schedule(delay) {
    stop();
    if (document.visibilityState === "hidden") {
      return; // resumed by the visibilitychange handler
    }
    timer = window.setTimeout(poll, delay || INTERVAL);
  }

  function stop() {
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && timer === null && !finished) {
      poll();
    }
  });

  schedule();
})();
