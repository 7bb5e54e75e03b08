// Admin → Provisioning (SCIM): "Copy" buttons for the token and the base URL. The buttons are
// hidden in the HTML and shown only where the Clipboard API exists; the text stays selectable.
(function () {
  "use strict";
  if (!navigator.clipboard || !window.isSecureContext) return;
  var status = document.querySelector(".scim-copied");
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(
        function () {
          button.firstChild.textContent = "Copied";
          if (status) status.textContent = "Copied to the clipboard.";
        },
        function () {
          if (status) status.textContent = "Could not copy: select the text and copy it.";
        }
      );
    });
  });
})();
