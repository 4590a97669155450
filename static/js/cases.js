// Cases pages: the dismiss dialog, bulk selection counts, focus shortcuts, and keeping the
// selected row selected when htmx replaces it. No inline script (strict CSP): everything
// hangs off data- attributes. Keyboard shortcuts themselves live in stopclock.js.
(function () {
  "use strict";

  function selectedIds() {
    return Array.from(document.querySelectorAll("[data-list] tbody input[type=checkbox]:checked"))
      .map((box) => box.value);
  }

  function updateCounts() {
    const n = selectedIds().length;
    document.querySelectorAll("[data-bulk-count]").forEach((el) => {
      el.textContent = `${n} selected`;
    });
  }

  function openDismiss(ids) {
    const dialog = document.getElementById("dismiss-dialog");
    if (!dialog) return;
    const holder = dialog.querySelector("[data-dismiss-ids]");
    holder.replaceChildren();
    ids.forEach((id) => {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids";
      input.value = id;
      holder.appendChild(input);
    });
    const count = dialog.querySelector("[data-dismiss-count]");
    if (count) count.textContent = ids.length === 1 ? "1 alert" : `${ids.length} alerts`;
    const submit = dialog.querySelector("button[type=submit]");
    if (submit) submit.disabled = ids.length === 0;
    dialog.showModal();
    const first = dialog.querySelector("input[type=radio]");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    const dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      event.preventDefault();
      const value = dismiss.dataset.dismiss;
      const chosen = selectedIds();
      openDismiss(value === "selected" ? chosen : (chosen.includes(value) ? chosen : [value]));
      return;
    }
    const close = event.target.closest("[data-close-dialog]");
    if (close) { close.closest("dialog").close(); return; }
    const focus = event.target.closest("[data-focus]");
    if (focus) {
      const target = document.querySelector(focus.dataset.focus);
      if (target) { target.focus(); target.scrollIntoView({ block: "center" }); }
      return;
    }
    if (event.target.closest("[data-select-all]")) updateCounts();
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("input[type=checkbox]")) updateCounts();
  });

  // In the dismiss dialog, 1/2/3 pick the reason and move focus to the button.
  document.addEventListener("keydown", function (event) {
    const dialog = document.getElementById("dismiss-dialog");
    if (!dialog || !dialog.open || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.matches("input[type=text], input:not([type]), textarea")) return;
    const index = Number(event.key);
    const radios = dialog.querySelectorAll("input[type=radio]");
    if (index >= 1 && index <= radios.length) {
      event.preventDefault();
      radios[index - 1].checked = true;
      const submit = dialog.querySelector("button[type=submit]");
      if (submit) submit.focus();
    }
  });

  // htmx replaces a queue row: keep it selected so j/k and the shortcuts continue from it.
  let reselect = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    const row = event.detail.target && event.detail.target.closest("tr");
    reselect = row && row.getAttribute("aria-selected") === "true" ? row.id : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (!reselect) return;
    const row = document.getElementById(reselect);
    if (row) row.setAttribute("aria-selected", "true");
    reselect = null;
    updateCounts();
  });

  document.addEventListener("DOMContentLoaded", updateCounts);
})();
