/*
 * The profile photo form (form[data-photo-form]). Without this file the form posts and the
 * server checks the picture; this only enhances:
 *
 * - choosing a file shows it as it will look (a circle cut from the middle) before uploading;
 * - a file that is not a picture, or is over the limit (data-max-bytes), is named at once in
 *   the status line (a polite live region), so nobody waits for an upload that will be refused.
 *   The server checks again either way.
 *
 * CSP: no inline code or style. The preview is read as a data: URL, which the policy's
 * img-src allows (blob: URLs it does not).
 */
(function () {
  "use strict";

  var TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];

  function megabytes(bytes) {
    return (Math.round((bytes / (1024 * 1024)) * 10) / 10).toString().replace(/\.0$/, "") + " MB";
  }

  function setup(form) {
    var input = form.querySelector("[data-photo-input]");
    var preview = form.querySelector("[data-photo-preview]");
    var image = form.querySelector("[data-photo-preview-image]");
    var status = form.querySelector("[data-photo-status]");
    if (!input || !preview || !image || !status) {
      return;
    }
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;

    /** A problem is shown and announced; good news only announced (the preview shows it). */
    function say(message, problem) {
      status.textContent = message;
      status.classList.toggle("photo-settings__status--problem", Boolean(problem));
      status.classList.toggle("visually-hidden", !problem);
    }
    var reader = null;

    function reset() {
      if (reader) {
        reader.abort();
        reader = null;
      }
      preview.hidden = true;
      image.removeAttribute("src");
    }

    input.addEventListener("change", function () {
      reset();
      say("", false);
      var file = input.files && input.files[0];
      if (!file) {
        return;
      }
      if (file.type && TYPES.indexOf(file.type) === -1) {
        say("That file isn’t a picture we can use. Please choose a JPEG, PNG, WebP or GIF image.", true);
        return;
      }
      if (limit && file.size > limit) {
        say(
          "That photo is " + megabytes(file.size) + "; the limit is " + megabytes(limit) +
            ". Please choose a smaller one (or resize it first).",
          true
        );
        return;
      }
      var mine = new FileReader();
      reader = mine;
      mine.onload = function () {
        if (reader !== mine) {
          return; // another file was chosen meanwhile
        }
        reader = null;
        image.src = String(mine.result);
        preview.hidden = false;
        say("Preview shown. The photo is saved when you upload it.", false);
      };
      mine.readAsDataURL(file);
    });

    image.addEventListener("error", function () {
      if (image.getAttribute("src")) {
        preview.hidden = true;
        say("This browser can’t show that picture; you can still upload it.", true);
      }
    });
  }

  document.querySelectorAll("form[data-photo-form]").forEach(setup);
})();
