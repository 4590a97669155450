// Response actions: the request form shows only the parameters of the chosen type and says
// whether it will wait for a lead's approval. No inline script (strict CSP); without this
// file every parameter field is shown and the server still takes only the right ones.
(function () {
  "use strict";

  function sync(form) {
    const select = form.querySelector("[data-action-type]");
    if (!select) return;
    const type = select.value;
    form.querySelectorAll("[data-types]").forEach(function (label) {
      const types = label.dataset.types.split(/\s+/).filter(Boolean);
      const show = types.includes(type);
      label.hidden = !show;
      label.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !show;
      });
    });
    const option = select.selectedOptions[0];
    const note = form.querySelector("[data-approval-note]");
    if (note && option) {
      note.textContent = option.dataset.approval === "1"
        ? "This action waits for a lead's (or an admin's) approval; never its requester's own."
        : "This action is queued for the agent at once (no approval needed in this tenant).";
      note.classList.toggle("warn", option.dataset.approval === "1");
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-action-type]")) sync(event.target.closest("form"));
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-action-form]").forEach(sync);
  });
})();
