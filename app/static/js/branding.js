/*
 * Admin → Settings → Branding and layout, and the private feed's "shown once" page. Without
 * this file every form posts and the server checks everything; this only enhances:
 *
 * - a colour picker beside the accent's text field (both stay in step), a live preview of the
 *   header, a link and a button in the colour, and its contrast with white measured as typed
 *   (the WCAG 2.x formula the server applies: at least 4.5:1);
 * - a logo that is not a picture or is over the limit (data-max-bytes) is named at once;
 * - "Copy" for the feed address, where the Clipboard API exists.
 *
 * CSP: no inline code or style; the preview's colour is a CSS custom property set through the
 * CSSOM (element.style.setProperty), which the policy allows.
 */
(function () {
  "use strict";

  var AA = 4.5;

  /** "#rgb" / "rgb" / "#rrggbb" → "#rrggbb" (lower case), or null. */
  function normalize(value) {
    var text = (value || "").trim().toLowerCase().replace(/^#/, "");
    if (/^[0-9a-f]{3}$/.test(text)) {
      text = text.replace(/./g, "$&$&");
    }
    return /^[0-9a-f]{6}$/.test(text) ? "#" + text : null;
  }

  function channels(hex) {
    return [1, 3, 5].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
  }

  function luminance(hex) {
    var c = channels(hex).map(function (v) {
      v = v / 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrastWithWhite(hex) {
    return 1.05 / (luminance(hex) + 0.05);
  }

  /** Cut, never rounded up: 4.497 shows as 4.49 (as the server says it). */
  function shown(ratio) {
    return (Math.floor(ratio * 100) / 100).toFixed(2) + ":1";
  }

  function setupAccent() {
    var input = document.querySelector("[data-accent-input]");
    var preview = document.querySelector("[data-brand-preview]");
    var status = document.querySelector("[data-contrast-status]");
    if (!input || !preview || !status) {
      return;
    }
    var picker = document.createElement("input");
    picker.type = "color";
    picker.className = "brand-colour__picker";
    picker.setAttribute("aria-label", "Colour picker");
    var row = document.createElement("div");
    row.className = "brand-colour__row";
    input.parentNode.insertBefore(row, input);
    row.appendChild(input);
    row.appendChild(picker);

    function update(fromPicker) {
      var hex = normalize(input.value);
      if (!hex) {
        status.textContent = input.value.trim() ? "Use a hex code such as #b43c0a or #c30." : "";
        status.classList.toggle("brand-status--problem", Boolean(input.value.trim()));
        return;
      }
      if (!fromPicker) {
        picker.value = hex;
      }
      var ratio = contrastWithWhite(hex);
      var passes = ratio >= AA;
      preview.style.setProperty("--preview-accent", hex);
      preview.style.setProperty("--preview-link", hex);
      status.textContent = passes
        ? "Contrast with white: " + shown(ratio) + ". Readable (at least 4.5:1 is needed)."
        : "Contrast with white: " + shown(ratio) + ". Too light: at least 4.5:1 is needed; " +
          "saving suggests a darker shade.";
      status.classList.toggle("brand-status--problem", !passes);
    }

    picker.addEventListener("input", function () {
      input.value = picker.value;
      update(true);
    });
    input.addEventListener("input", function () { update(false); });
    update(false);
  }

  function setupLogo() {
    var form = document.querySelector("[data-logo-form]");
    if (!form) {
      return;
    }
    var input = form.querySelector("[data-logo-input]");
    var status = form.querySelector("[data-logo-status]");
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
    var types = ["image/png", "image/jpeg", "image/webp", "image/gif"];
    if (!input || !status) {
      return;
    }
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var problem = "";
      if (file && file.type && types.indexOf(file.type) === -1) {
        problem = "That file isn't a PNG, JPEG, WebP or GIF picture.";
      } else if (file && limit && file.size > limit) {
        problem = "That file is larger than " + form.getAttribute("data-max-label") +
          ". Please choose a smaller one.";
      }
      status.textContent = problem || (file ? "Ready to upload: " + file.name : "");
      status.classList.toggle("brand-status--problem", Boolean(problem));
    });
  }

  function setupCopy() {
    var status = document.querySelector("[data-copy-status]");
    document.querySelectorAll("[data-select-on-focus]").forEach(function (field) {
      field.addEventListener("focus", function () { field.select(); });
    });
    if (!navigator.clipboard || !window.isSecureContext) {
      return;
    }
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.value || source.textContent.trim()).then(
          function () {
            button.firstChild.textContent = "Copied";
            if (status) status.textContent = "Copied to the clipboard.";
          },
          function () {
            if (status) status.textContent = "Could not copy: select the address and copy it.";
          }
        );
      });
    });
  }

  setupAccent();
  setupLogo();
  setupCopy();
})();
