/* AesLab time-stamped comments: notes pinned to a moment of the pair player, shown as markers on its scrubber.
 *
 * Workbench ([data-timed-comments], annotation/_timed_comments_workbench.html): the expert presses m, types a
 * note and presses Enter; it is stored with the player's time and a side (both, or the side shown in flip mode)
 * and appears as a marker. A marker or a note's time seeks the player there and shows the note.
 * Adjudication ([data-timed-comments-review], annotation/_timed_comments.html): every expert's notes, read only.
 *
 * The two players of a pair run in sync on one clock, so one time fits both sides. Plain script, no build step.
 */
(function () {
  "use strict";

  const NOTE_KEY = "m";

  function formatSeconds(seconds) {
    return Number(seconds).toFixed(3) + " s";
  }

  function isTyping(event) {
    const element = event.target;
    if (!element || !element.tagName) return false;
    if (element.isContentEditable) return true;
    const tag = element.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !["radio", "checkbox", "range", "button", "submit"].includes(element.type));
  }

  function playerIn(scope) {
    const root = (scope || document).querySelector("[data-pair-player]") || document.querySelector("[data-pair-player]");
    if (!root) return null;
    if (!root.aeslabPlayer && window.AesLabPairPlayer) window.AesLabPairPlayer.attach(root);
    return root.aeslabPlayer || null;
  }

  class ScrubberMarkers {
    /* Markers over the player's scrubber, one per note, at note.seconds / duration of its width. */
    constructor(player, onPick) {
      this.player = player;
      this.onPick = onPick;
      const scrubber = player.root.querySelector("[data-scrubber]");
      let track = scrubber.parentElement.classList.contains("tc-scrubber-track") ? scrubber.parentElement : null;
      if (!track) {
        track = document.createElement("div");
        track.className = "tc-scrubber-track";
        scrubber.parentElement.insertBefore(track, scrubber);
        track.appendChild(scrubber);
      }
      this.layer = track.querySelector("[data-comment-markers]");
      if (!this.layer) {
        this.layer = document.createElement("div");
        this.layer.className = "tc-markers";
        this.layer.setAttribute("data-comment-markers", "");
        track.appendChild(this.layer);
      }
      this.comments = [];
      // The duration is known only once the videos' metadata is in: place the markers again then.
      for (const video of player.root.querySelectorAll("video")) {
        video.addEventListener("loadedmetadata", () => this.render());
        video.addEventListener("durationchange", () => this.render());
      }
    }

    show(comments) {
      this.comments = comments;
      this.render();
    }

    render() {
      this.layer.textContent = "";
      const duration = this.player.duration() || Number(this.player.root.querySelector("[data-scrubber]").max) || 0;
      for (const comment of this.comments) {
        const fraction = duration > 0 ? Math.min(1, Math.max(0, comment.seconds / duration)) : 0;
        const marker = document.createElement("button");
        marker.type = "button";
        marker.className = "tc-marker";
        marker.dataset.commentMarker = String(comment.id);
        marker.dataset.side = comment.side;
        // The range's thumb (about 16 px) never reaches the track's very ends: line markers up with its centre.
        marker.style.left = `calc(8px + (100% - 16px) * ${fraction})`;
        const label = `${formatSeconds(comment.seconds)}${comment.author ? " · " + comment.author : ""}: ${comment.text}`;
        marker.title = label;
        marker.setAttribute("aria-label", "Note at " + label);
        marker.addEventListener("click", () => this.onPick(comment));
        this.layer.appendChild(marker);
      }
    }
  }

  class CommentEditor {
    constructor(root) {
      this.root = root;
      this.player = playerIn(root.closest(".wb-media") || document);
      this.open = root.dataset.open === "true";
      this.addUrl = root.dataset.addUrl;
      this.form = root.querySelector("[data-comment-form]");
      this.list = root.querySelector("[data-comment-list]");
      this.shown = root.querySelector("[data-comment-shown]");
      this.error = root.querySelector("[data-comment-error]");
      this.csrf = root.querySelector('input[name="csrfmiddlewaretoken"]').value;
      this.comments = JSON.parse(document.getElementById("timed-comments-data").textContent);
      this.pendingSeconds = 0;
      this.markers = this.player ? new ScrubberMarkers(this.player, (comment) => this.reveal(comment)) : null;
      this.bind();
      this.render();
    }

    bind() {
      document.addEventListener("keydown", (event) => {
        if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) return;
        if (event.key !== NOTE_KEY || !this.open) return;
        event.preventDefault();
        this.startNote();
      });
      const openButton = this.root.querySelector("[data-comment-open]");
      if (openButton) openButton.addEventListener("click", () => this.startNote());
      if (!this.form) return;
      const text = this.form.querySelector("textarea");
      text.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey) {
          // Enter (and Ctrl+Enter, which would otherwise submit the judgment) saves the note.
          event.preventDefault();
          event.stopPropagation();
          this.save();
        } else if (event.key === "Escape") {
          event.preventDefault();
          event.stopPropagation();
          this.cancel();
        }
      });
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.save();
      });
      this.form.querySelector("[data-comment-cancel]").addEventListener("click", () => this.cancel());
    }

    startNote() {
      if (!this.form) return;
      if (this.player && this.player.isPlaying()) this.player.pause();
      this.pendingSeconds = this.player ? this.player.currentTime() : 0;
      const showing = this.player ? this.player.flipShowing() : null;
      this.form.querySelector(`input[name="side"][value="${showing || "both"}"]`).checked = true;
      this.form.querySelector("[data-comment-time]").textContent = formatSeconds(this.pendingSeconds);
      this.setError("");
      this.form.hidden = false;
      this.form.querySelector("textarea").focus();
    }

    cancel() {
      const textarea = this.form.querySelector("textarea");
      // Blur before hiding: Chrome moves focus off a hidden field only at its next rendering update, and until
      // then the player's keys (f, m, space) typed right after saving a note went to the hidden field.
      textarea.blur();
      this.form.hidden = true;
      textarea.value = "";
      this.setError("");
    }

    setError(message) {
      this.error.textContent = message;
      this.error.hidden = !message;
    }

    async post(url, body) {
      body.append("csrfmiddlewaretoken", this.csrf);
      return fetch(url, { method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": this.csrf } });
    }

    async save() {
      const text = this.form.querySelector("textarea").value.trim();
      if (!text) {
        this.setError("Write the note first, or press Esc.");
        return;
      }
      const body = new FormData();
      body.append("seconds", this.pendingSeconds.toFixed(3));
      body.append("side", this.form.querySelector('input[name="side"]:checked').value);
      body.append("text", text);
      let response;
      try {
        response = await this.post(this.addUrl, body);
      } catch (error) {
        this.setError("Not saved: the server cannot be reached. Try again.");
        return;
      }
      const data = await response.json().catch(() => ({ error: "Not saved (HTTP " + response.status + ")." }));
      if (!response.ok) {
        this.setError(data.error || "Not saved.");
        if (response.status === 409) this.closeForGood();
        return;
      }
      this.comments.push(data);
      this.comments.sort((a, b) => a.seconds - b.seconds || a.id - b.id);
      this.cancel();
      this.render();
      this.reveal(data, { seek: false });
    }

    async remove(comment) {
      let response;
      try {
        response = await this.post(comment.delete_url, new FormData());
      } catch (error) {
        this.showMessage("Not deleted: the server cannot be reached.");
        return;
      }
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        this.showMessage(data.error || "Not deleted (HTTP " + response.status + ").");
        if (response.status === 409) this.closeForGood();
        return;
      }
      this.comments = this.comments.filter((other) => other.id !== comment.id);
      this.shown.hidden = true;
      this.render();
    }

    closeForGood() {
      /* The judgment was submitted or the campaign locked meanwhile (another tab, a curator): no more edits. */
      this.open = false;
      this.root.dataset.open = "false";
      this.render();
    }

    showMessage(message) {
      this.shown.hidden = false;
      this.shown.textContent = message;
    }

    reveal(comment, { seek = true } = {}) {
      if (seek && this.player) this.player.seek(comment.seconds);
      this.shown.hidden = false;
      this.shown.textContent = "";
      const time = document.createElement("strong");
      time.textContent = `${formatSeconds(comment.seconds)} · ${comment.side === "both" ? "both sides" : comment.side}`;
      this.shown.append(time, " ", comment.text);
      this.shown.dataset.commentShown = String(comment.id);
      for (const item of this.list.querySelectorAll("[data-comment]")) {
        item.classList.toggle("active", item.dataset.comment === String(comment.id));
      }
    }

    render() {
      if (this.markers) this.markers.show(this.comments);
      this.list.textContent = "";
      const empty = this.root.querySelector("[data-comment-empty]");
      if (empty) empty.hidden = this.comments.length > 0;
      for (const comment of this.comments) {
        const item = document.createElement("li");
        item.dataset.comment = String(comment.id);
        const seek = document.createElement("button");
        seek.type = "button";
        seek.className = "link tc-time";
        seek.textContent = formatSeconds(comment.seconds);
        seek.title = "Go to this moment";
        seek.addEventListener("click", () => this.reveal(comment));
        const side = document.createElement("span");
        side.className = "muted tc-side";
        side.textContent = comment.side === "both" ? "both" : comment.side;
        const text = document.createElement("span");
        text.className = "tc-text";
        text.textContent = comment.text;
        item.append(seek, side, text);
        if (this.open) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "link tc-delete";
          remove.textContent = "Delete";
          remove.setAttribute("aria-label", `Delete the note at ${formatSeconds(comment.seconds)}`);
          remove.addEventListener("click", () => this.remove(comment));
          item.append(remove);
        }
        this.list.append(item);
      }
      const openButton = this.root.querySelector("[data-comment-open]");
      if (openButton) openButton.hidden = !this.open;
      if (this.form && !this.open) this.form.hidden = true;
    }
  }

  class CommentReview {
    /* Adjudication: markers for every expert's notes on the review page's player; times seek it. */
    constructor(root) {
      this.root = root;
      this.player = playerIn(document);
      this.shown = root.querySelector("[data-comment-shown]");
      const comments = Array.from(root.querySelectorAll("[data-comment]")).map((item) => ({
        id: Number(item.dataset.comment),
        seconds: Number(item.dataset.seconds),
        side: item.dataset.side,
        author: item.dataset.author,
        text: item.querySelector(".tc-text").textContent,
      }));
      if (this.player) new ScrubberMarkers(this.player, (comment) => this.reveal(comment)).show(comments);
      for (const button of root.querySelectorAll("[data-comment] .tc-time")) {
        const item = button.closest("[data-comment]");
        button.addEventListener("click", () => this.reveal(comments.find((comment) => String(comment.id) === item.dataset.comment)));
      }
    }

    reveal(comment) {
      if (this.player) this.player.seek(comment.seconds);
      this.shown.hidden = false;
      this.shown.textContent = "";
      const head = document.createElement("strong");
      head.textContent = `${comment.author} · ${formatSeconds(comment.seconds)} · ${comment.side === "both" ? "both videos" : "video " + comment.side}`;
      this.shown.append(head, " ", comment.text);
      for (const item of this.root.querySelectorAll("[data-comment]")) {
        item.classList.toggle("active", item.dataset.comment === String(comment.id));
      }
    }
  }

  function start() {
    const editor = document.querySelector("[data-timed-comments]");
    if (editor) window.aeslabTimedComments = new CommentEditor(editor);
    const review = document.querySelector("[data-timed-comments-review]");
    if (review) window.aeslabTimedCommentsReview = new CommentReview(review);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
