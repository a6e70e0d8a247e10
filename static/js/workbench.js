/* AesLab workbench: autosave, keyboard judging, progressive checklist, completeness check.
 *
 * The form's field names are in display terms (left/right); the server converts to canonical A/B.
 * The pair player (pair-player.js) binds its own keys (Space, arrows, f, [, ], l, r, z, x).
 */
(function () {
  "use strict";

  const AUTOSAVE_DELAY_MS = 300;
  const RETRY_DELAY_MS = 2000;
  // What the server reads as an unticked box (annotation.forms.UNCHECKED).
  const UNCHECKED = new Set(["", "false", "False", "0"]);

  function isTyping(event) {
    const tag = (event.target && event.target.tagName) || "";
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !["radio", "checkbox"].includes(event.target.type));
  }

  class Autosave {
    constructor(form, url, statusElement) {
      this.form = form;
      this.url = url;
      this.status = statusElement;
      this.timer = null;
      this.dirty = false;
      this.inFlight = null;
    }

    schedule() {
      if (this.refused) return;
      this.dirty = true;
      this.setStatus("Unsaved changes…");
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.save(), AUTOSAVE_DELAY_MS);
    }

    async save() {
      if (!this.dirty) return;
      if (this.inFlight) {
        await this.inFlight;
      }
      this.dirty = false;
      const body = this.body();
      this.setStatus("Saving…");
      this.inFlight = fetch(this.url, { method: "POST", body, credentials: "same-origin" })
        .then(async (response) => {
          if (response.status === 423) {
            // The campaign was locked meanwhile: retrying cannot help, say why instead.
            this.refused = true;
            this.setStatus(await response.text());
            return;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          this.setStatus("Draft saved " + new Date().toLocaleTimeString());
          this.form.dispatchEvent(new CustomEvent("aeslab:draft-saved"));
        })
        .catch(() => {
          this.dirty = true;
          this.setStatus("Not saved yet, retrying…");
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.save(), RETRY_DELAY_MS);
        })
        .finally(() => {
          this.inFlight = null;
        });
      return this.inFlight;
    }

    body() {
      /* URL-encoded, not multipart: Django parses the ~300 fields of a full draft several times faster. */
      return new URLSearchParams(new FormData(this.form));
    }

    flushWithBeacon() {
      if (this.dirty && navigator.sendBeacon) {
        navigator.sendBeacon(this.url, this.body());
        this.dirty = false;
      }
    }

    setStatus(text) {
      if (this.status) this.status.textContent = text;
    }
  }

  class ProgressiveChecklist {
    /* A "yes" fills the weaker options of the same sub-dimension with "yes", a "no" fills the
       stronger ones with "no"; a presence question answered "no" hides the questions it gates. */
    constructor(root) {
      this.root = root;
    }

    rowsOf(group) {
      return Array.from(this.root.querySelectorAll(".cl-row")).filter((row) => row.dataset.group === group);
    }

    setAnswer(row, value) {
      const input = row.querySelector(`input[value="${value}"]`);
      if (input && !input.checked) {
        input.checked = true;
      }
    }

    onAnswer(row, value) {
      const level = Number(row.dataset.level);
      for (const other of this.rowsOf(row.dataset.group)) {
        if (other === row || other.hidden) continue;
        const otherLevel = Number(other.dataset.level);
        if (value === "yes" && otherLevel < level) this.setAnswer(other, "yes");
        if (value === "no" && otherLevel > level) this.setAnswer(other, "no");
      }
      this.applyGates();
    }

    applyGates() {
      for (const row of this.root.querySelectorAll(".cl-row[data-gated-by]")) {
        const side = row.closest("[data-checklist-side]").dataset.checklistSide;
        const gate = this.root.querySelector(`input[name="checklist-${side}-${row.dataset.gatedBy}"]:checked`);
        const absent = gate && gate.value === "no";
        row.hidden = Boolean(absent);
        if (absent) this.setAnswer(row, "na");
      }
    }

    unanswered(side) {
      return Array.from(this.root.querySelectorAll(`[data-checklist-side="${side}"] .cl-row`)).filter(
        (row) => !row.hidden && !row.querySelector("input:checked")
      );
    }
  }

  class Workbench {
    constructor(root) {
      this.root = root;
      this.form = document.getElementById("judgment-form");
      this.readOnly = root.dataset.readOnly === "true";
      this.help = document.getElementById("help-overlay");
      this.checklist = new ProgressiveChecklist(root);
      this.autosave = new Autosave(this.form, root.dataset.draftUrl, this.form.querySelector("[data-save-status]"));
      this.mode = "verdict";
      this.activeRow = null;
      this.timeInput = this.form.querySelector('input[name="time_spent_seconds"]');
      this.submitting = false;
      this.cursorKey = "aeslab-workbench-cursor-" + root.dataset.assignmentId;
      this.applyState();
      this.checklist.applyGates();
      this.bind();
      this.updateChecklistProgress();
      this.restoreCursor();
      if (!this.readOnly) this.startClock();
    }

    applyState() {
      /* The form's markup is the same for every pair of the campaign (cached on the server); this assignment's
         chosen verdicts, severe boxes and checklist answers, and the rows a refused submit left without a verdict,
         come as JSON (views.workbench_state). */
      const payload = document.getElementById("workbench-state");
      if (!payload) return;
      const state = JSON.parse(payload.textContent);
      for (const [name, value] of Object.entries(state.values || {})) {
        const inputs = document.getElementsByName(name);
        for (const input of inputs) {
          if (input.type === "radio") {
            if (input.value === value) input.checked = true;
          } else if (input.type === "checkbox") {
            input.checked = !UNCHECKED.has(value);
          }
        }
      }
      const missing = new Set(state.missing || []);
      for (const row of this.form.querySelectorAll('.wb-row[data-row="verdict"]')) {
        if (missing.has(row.dataset.code)) row.classList.add("missing");
      }
    }

    rows() {
      if (this.mode === "checklist") {
        const side = this.root.querySelector(".wb-checklist-side:not([hidden])");
        return side ? Array.from(side.querySelectorAll(".cl-row")).filter((row) => !row.hidden) : [];
      }
      return Array.from(this.form.querySelectorAll('.wb-row[data-row="verdict"]'));
    }

    focusRow(row) {
      if (!row) return;
      if (this.activeRow) this.activeRow.classList.remove("active");
      this.activeRow = row;
      row.classList.add("active");
      const definition = row.querySelector(".wb-def");
      const panel = this.form.querySelector("[data-definition]");
      if (panel) {
        const parts = definition ? Array.from(definition.childNodes).map((node) => node.textContent.trim()) : [];
        if (row.dataset.help) parts.push(row.dataset.help);
        panel.textContent = parts.filter(Boolean).join(" — ");
      }
      row.focus({ preventScroll: true });
      this.keepInView(row);
      this.saveCursor(row);
    }

    keepInView(row) {
      /* A checklist row is scrolled into view inside its panel only (below the sticky dimension title), so the
         page does not jump while the expert walks the 64 questions with j and k. */
      const box = row.closest(".wb-checklist-side");
      if (!box) {
        row.scrollIntoView({ block: "nearest" });
        return;
      }
      const boxRect = box.getBoundingClientRect();
      const rowRect = row.getBoundingClientRect();
      const title = row.closest(".cl-dimension").querySelector(".cl-dimension-title");
      const covered = title ? title.getBoundingClientRect().height : 0;
      if (rowRect.top < boxRect.top + covered) {
        box.scrollTop -= Math.ceil(boxRect.top + covered - rowRect.top);
      } else if (rowRect.bottom > boxRect.bottom) {
        box.scrollTop += Math.ceil(rowRect.bottom - boxRect.bottom);
      }
      const shown = row.getBoundingClientRect();
      if (shown.top < 0 || shown.bottom > window.innerHeight) {
        // The panel itself is partly off screen: scroll the page just enough (the row is in the panel's view now).
        row.scrollIntoView({ block: "nearest" });
      }
    }

    saveCursor(row) {
      /* Where the expert was, per assignment, so that a reload returns there. */
      const cursor = row.classList.contains("cl-row")
        ? { mode: "checklist", side: row.closest("[data-checklist-side]").dataset.checklistSide, question: row.dataset.question }
        : { mode: "verdict", code: row.dataset.code };
      try {
        localStorage.setItem(this.cursorKey, JSON.stringify(cursor));
      } catch (error) {
        // Storage full or disabled: the cursor simply starts at the top next time.
      }
    }

    restoreCursor() {
      let cursor = null;
      try {
        cursor = JSON.parse(localStorage.getItem(this.cursorKey) || "null");
      } catch (error) {
        cursor = null;
      }
      let row = null;
      if (cursor && cursor.mode === "checklist" && this.root.querySelector(".wb-checklist")) {
        this.mode = "checklist";
        this.showChecklistSide(cursor.side === "right" ? "right" : "left");
        row = this.rows().find((candidate) => candidate.dataset.question === String(cursor.question));
      } else if (cursor && cursor.mode === "verdict") {
        row = this.rows().find((candidate) => candidate.dataset.code === cursor.code);
      }
      this.focusRow(row || this.rows()[0]);
    }

    move(delta) {
      const rows = this.rows();
      const index = rows.indexOf(this.activeRow);
      const next = rows[Math.min(rows.length - 1, Math.max(0, index + delta))];
      this.focusRow(next || rows[0]);
    }

    choose(value) {
      if (this.readOnly || !this.activeRow) return;
      const input = this.activeRow.querySelector(`input[value="${value}"]`);
      if (!input) return;
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
      this.move(1);
    }

    toggleSevere(side) {
      if (this.readOnly || !this.activeRow || !this.activeRow.dataset.dimension) return;
      const fieldset = this.form.querySelector(`fieldset[data-dimension="${this.activeRow.dataset.dimension}"]`);
      const box = fieldset.querySelector(`input[data-severe="${side}"]`);
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    }

    switchMode() {
      if (!this.root.querySelector(".wb-checklist")) return;
      this.mode = this.mode === "verdict" ? "checklist" : "verdict";
      this.focusRow(this.rows()[0]);
    }

    showChecklistSide(side) {
      for (const tab of this.root.querySelectorAll(".wb-tab")) {
        const active = tab.dataset.side === side;
        tab.classList.toggle("active", active);
        tab.setAttribute("aria-selected", String(active));
      }
      for (const panel of this.root.querySelectorAll("[data-checklist-side]")) {
        panel.hidden = panel.dataset.checklistSide !== side;
      }
      if (this.mode === "checklist") this.focusRow(this.rows()[0]);
    }

    toggleChecklistSide() {
      const current = this.root.querySelector(".wb-tab.active");
      this.showChecklistSide(current && current.dataset.side === "left" ? "right" : "left");
    }

    missingVerdicts() {
      return Array.from(this.form.querySelectorAll('.wb-row[data-row="verdict"]'))
        .filter((row) => !row.querySelector("input:checked"))
        .map((row) => row.dataset.code);
    }

    showMissing() {
      const missing = this.missingVerdicts();
      const banner = this.form.querySelector("[data-missing]");
      const unansweredLeft = this.checklist.unanswered("left").length;
      const unansweredRight = this.checklist.unanswered("right").length;
      const parts = [];
      if (missing.length) parts.push(missing.join(", "));
      if (unansweredLeft) parts.push(`${unansweredLeft} checklist questions on the left video`);
      if (unansweredRight) parts.push(`${unansweredRight} checklist questions on the right video`);
      banner.hidden = parts.length === 0;
      banner.querySelector("[data-missing-list]").textContent = parts.join("; ");
      for (const row of this.form.querySelectorAll('.wb-row[data-row="verdict"]')) {
        row.classList.toggle("missing", missing.includes(row.dataset.code));
      }
      for (const row of this.root.querySelectorAll(".cl-row")) {
        row.classList.toggle("missing", !row.hidden && !row.querySelector("input:checked"));
      }
      return parts.length;
    }

    updateChecklistProgress() {
      const target = this.root.querySelector("[data-checklist-progress]");
      if (!target) return;
      const total = this.root.querySelectorAll(".cl-row:not([hidden])").length;
      const answered = Array.from(this.root.querySelectorAll(".cl-row:not([hidden])")).filter((row) =>
        row.querySelector("input:checked")
      ).length;
      target.textContent = `${answered} / ${total} answered`;
    }

    startClock() {
      let last = performance.now();
      setInterval(() => {
        const now = performance.now();
        if (document.visibilityState === "visible") {
          const seconds = Number(this.timeInput.value || 0) + (now - last) / 1000;
          this.timeInput.value = seconds.toFixed(1);
        }
        last = now;
      }, 1000);
    }

    onChange(event) {
      const target = event.target;
      if (!target || target.form !== this.form || this.readOnly) return;
      const row = target.closest(".cl-row");
      if (row && target.type === "radio") {
        this.checklist.onAnswer(row, target.value);
        this.updateChecklistProgress();
      }
      if (!this.form.querySelector("[data-missing]").hidden) this.showMissing();
      this.autosave.schedule();
    }

    onSubmit(event) {
      if (this.submitting) {
        event.preventDefault();
        return;
      }
      if (this.showMissing()) {
        event.preventDefault();
        this.form.querySelector("[data-missing]").scrollIntoView({ block: "nearest" });
        return;
      }
      this.submitting = true;
      clearTimeout(this.autosave.timer);
      this.autosave.dirty = false;
      for (const button of this.form.querySelectorAll('button[type="submit"]')) {
        // Disable after the browser has captured the clicked button's name/value.
        setTimeout(() => (button.disabled = true), 0);
      }
    }

    onKey(event) {
      if (event.defaultPrevented || event.altKey || event.metaKey) return;
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        if (!this.readOnly) this.form.requestSubmit(this.form.querySelector("[data-submit]"));
        return;
      }
      if (event.ctrlKey || isTyping(event)) return;
      const key = event.key;
      if (key === "?") {
        this.help.hidden = !this.help.hidden;
      } else if (key === "Escape") {
        this.help.hidden = true;
      } else if (key === "j") {
        this.move(1);
      } else if (key === "k") {
        this.move(-1);
      } else if (key === "c") {
        this.switchMode();
      } else if (key === "t") {
        this.toggleChecklistSide();
      } else if (this.mode === "verdict" && ["1", "a"].includes(key)) {
        this.choose("left");
      } else if (this.mode === "verdict" && ["2", "s"].includes(key)) {
        this.choose("same");
      } else if (this.mode === "verdict" && ["3", "d"].includes(key)) {
        this.choose("right");
      } else if (this.mode === "verdict" && key === "q") {
        this.toggleSevere("left");
      } else if (this.mode === "verdict" && key === "w") {
        this.toggleSevere("right");
      } else if (this.mode === "checklist" && key === "y") {
        this.choose("yes");
      } else if (this.mode === "checklist" && key === "n") {
        this.choose("no");
      } else if (this.mode === "checklist" && key === "u") {
        this.choose("na");
      } else {
        return;
      }
      event.preventDefault();
    }

    bind() {
      document.addEventListener("change", (event) => this.onChange(event));
      document.addEventListener("input", (event) => {
        if (event.target && event.target.tagName === "TEXTAREA") this.onChange(event);
      });
      document.addEventListener("keydown", (event) => this.onKey(event));
      this.form.addEventListener("submit", (event) => this.onSubmit(event));
      for (const tab of this.root.querySelectorAll(".wb-tab")) {
        tab.addEventListener("click", () => this.showChecklistSide(tab.dataset.side));
      }
      for (const row of this.root.querySelectorAll(".wb-row, .cl-row")) {
        row.addEventListener("click", () => {
          this.mode = row.classList.contains("cl-row") ? "checklist" : "verdict";
          this.focusRow(row);
        });
      }
      const helpButton = this.form.querySelector("[data-help-open]");
      if (helpButton) helpButton.addEventListener("click", () => (this.help.hidden = false));
      this.help.addEventListener("click", (event) => {
        if (event.target === this.help) this.help.hidden = true;
      });
      window.addEventListener("pagehide", () => this.autosave.flushWithBeacon());
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "hidden") this.autosave.flushWithBeacon();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("workbench");
    if (root) window.aeslabWorkbench = new Workbench(root);
  });
})();
