// Keyboard-first navigation. No inline scripts (the CSP forbids them): behaviour hangs
// off data- attributes.
(function () {
  "use strict";
  let pendingG = false;
  let gTimer = null;

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  function rows() {
    const list = document.querySelector("[data-list] tbody");
    return list ? Array.from(list.querySelectorAll("tr[data-href], tr[data-id]")) : [];
  }

  function selectRow(delta) {
    const all = rows();
    if (!all.length) return;
    let index = all.findIndex((row) => row.getAttribute("aria-selected") === "true");
    if (index >= 0) all[index].removeAttribute("aria-selected");
    index = Math.min(all.length - 1, Math.max(0, index + delta));
    all[index].setAttribute("aria-selected", "true");
    all[index].scrollIntoView({ block: "nearest" });
  }

  function selectedRow() {
    return document.querySelector("[data-list] tr[aria-selected='true']");
  }

  function clickAction(name) {
    const row = selectedRow();
    const scope = row || document;
    const button = scope.querySelector(`[data-shortcut='${name}']`);
    if (button) { button.click(); return true; }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = event.key;
    if (pendingG) {
      pendingG = false;
      const link = document.querySelector(`.sidenav a[data-key='${key}']`);
      if (link) { event.preventDefault(); window.location.href = link.href; }
      return;
    }
    if (key === "g") { pendingG = true; clearTimeout(gTimer); gTimer = setTimeout(() => { pendingG = false; }, 1200); return; }
    if (key === "?") { const help = document.getElementById("help"); if (help) help.showModal(); return; }
    if (key === "/") {
      const search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if (key === "j") { selectRow(1); return; }
    if (key === "k") { selectRow(-1); return; }
    if (key === "Enter") {
      const row = selectedRow();
      if (row && row.dataset.href) { window.location.href = row.dataset.href; }
      return;
    }
    if (key === "x") {
      const row = selectedRow();
      const box = row && row.querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); }
      return;
    }
    if (clickAction(key)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    const help = event.target.closest("[data-action='help']");
    if (help) { document.getElementById("help").showModal(); return; }
    const row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, label, select")) {
      window.location.href = row.dataset.href;
    }
    const all = event.target.closest("[data-select-all]");
    if (all) {
      document.querySelectorAll("[data-list] tbody input[type=checkbox]").forEach((box) => { box.checked = all.checked; });
    }
  });

  // Confirm destructive buttons: <button data-confirm="Isolate 40 endpoints?">
  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const message = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Live clocks: <span data-clock-since="ISO" data-clock-target="seconds">
  function formatSpan(seconds) {
    const sign = seconds < 0 ? "-" : "";
    seconds = Math.abs(Math.floor(seconds));
    const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return sign + (d ? `${d}d ${pad(h)}:${pad(m)}:${pad(s)}` : `${pad(h)}:${pad(m)}:${pad(s)}`);
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-clock-since]").forEach(function (el) {
      const since = Date.parse(el.dataset.clockSince);
      const paused = Number(el.dataset.clockPaused || 0);
      if (Number.isNaN(since)) return;
      const elapsed = (now - since) / 1000 - paused;
      el.textContent = formatSpan(elapsed);
      const target = Number(el.dataset.clockTarget || 0);
      const box = el.closest(".clock");
      if (box && target) {
        box.classList.toggle("breached", elapsed > target);
        box.classList.toggle("at-risk", elapsed <= target && elapsed > target * 0.75);
      }
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();

// ==== metrics: regulatory deadlines counting down ====
// <span data-countdown-until="ISO"> shows the time left, or how long it has been overdue.
(function () {
  "use strict";
  function words(seconds) {
    const s = Math.abs(Math.floor(seconds));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${m} min`;
    return `${m} min ${s % 60} s`;
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-countdown-until]").forEach(function (el) {
      const until = Date.parse(el.dataset.countdownUntil);
      if (Number.isNaN(until)) return;
      const left = (until - now) / 1000;
      el.textContent = left >= 0 ? `${words(left)} left` : `overdue by ${words(left)}`;
      el.classList.toggle("overdue", left < 0);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
})();
