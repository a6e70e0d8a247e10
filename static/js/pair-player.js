/*
 * AesLab synchronised pair player.
 *
 * Two <video> elements driven by one controller. The left video is the master clock; while
 * playing, an animation-frame loop measures how far the right video has drifted from it and
 * corrects it: small drift by nudging the follower's playbackRate, drift over one frame by a hard
 * seek. Markup comes from annotation/_pair_player.html; every [data-pair-player] element is
 * attached on DOMContentLoaded (and on htmx swaps), its player stored on element.aeslabPlayer.
 *
 * Plain script, no modules, no build step: load it with <script src=... defer>.
 */
(function () {
  "use strict";

  if (window.AesLabPairPlayer) {
    // Included twice (e.g. the include appears in an htmx swap): attach any new players only.
    window.AesLabPairPlayer.attachAll(document);
    return;
  }

  var RATES = [0.25, 0.5, 1, 1.5, 2];
  var HAVE_FUTURE_DATA = 3;
  // Drift below this is left alone: Chrome's clocks jitter by a few milliseconds anyway.
  var DRIFT_DEAD_BAND_SECONDS = 0.004;
  // The rate nudge aims to cancel the measured drift within this much wall time...
  var DRIFT_CORRECTION_SECONDS = 0.5;
  // ...but never changes the follower's speed by more than this fraction, so motion stays natural.
  var MAX_RATE_NUDGE = 0.1;
  // Frame steps land at least this far from a frame boundary: media times are rounded to
  // microseconds, and landing a rounding error before the boundary would show the previous frame.
  var FRAME_SEEK_OFFSET_SECONDS = 0.001;
  var ZOOM_SCALE = 2;

  var players = [];
  var keyboardOwner = null;

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  function numberFrom(value, fallback) {
    var parsed = parseFloat(value);
    return isFinite(parsed) && parsed > 0 ? parsed : fallback;
  }

  function formatSeconds(seconds) {
    return (Math.max(0, seconds) || 0).toFixed(3);
  }

  function isTypingTarget(element) {
    if (!element || !element.tagName) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    var nonTyping = ["button", "checkbox", "radio", "range", "submit", "reset", "color", "file", "image"];
    return nonTyping.indexOf((element.type || "text").toLowerCase()) === -1;
  }

  // Space activates buttons, links and checkboxes natively; outside the player we leave it to them.
  function isActivatableControl(element) {
    if (!element || !element.tagName) return false;
    var tag = element.tagName;
    if (tag === "BUTTON" || tag === "SUMMARY" || (tag === "A" && element.hasAttribute("href"))) return true;
    return tag === "INPUT" && ["checkbox", "radio", "button", "submit", "reset"].indexOf(element.type) !== -1;
  }

  function ignorePlayRejection(promise) {
    // play() rejects with AbortError when a pause or seek interrupts it; that is expected here.
    if (promise && typeof promise.catch === "function") promise.catch(function () {});
  }

  function PairPlayer(root) {
    this.root = root;
    this.sides = {};
    var sideNames = ["left", "right"];
    for (var i = 0; i < sideNames.length; i++) {
      var name = sideNames[i];
      var figure = root.querySelector('[data-side="' + name + '"]');
      var video = figure.querySelector("video");
      this.sides[name] = {
        name: name,
        figure: figure,
        viewport: figure.querySelector("[data-viewport]") || figure,
        video: video,
        fps: numberFrom(figure.getAttribute("data-fps"), 24),
        declaredDuration: numberFrom(figure.getAttribute("data-duration"), 0),
        frameCount: parseInt(figure.getAttribute("data-frame-count"), 10) || 0,
        zoomed: false,
      };
    }
    this.master = this.sides.left.video;
    this.follower = this.sides.right.video;
    this.fps = this.sides.left.fps;
    this.frameSeconds = 1 / this.fps;

    this.controls = {
      play: root.querySelector('[data-action="play"]'),
      loop: root.querySelector('[data-action="loop"]'),
      flip: root.querySelector('[data-action="flip"]'),
      scrubber: root.querySelector("[data-scrubber]"),
      rate: root.querySelector("[data-rate]"),
      time: root.querySelector("[data-time]"),
      frame: root.querySelector("[data-frame]"),
      flipLabel: root.querySelector("[data-flip-label]"),
    };

    this.wantPlaying = false; // what the expert asked for
    this.stalled = false; // paused by us because one side is buffering
    this.scrubbing = false;
    this.looping = false;
    this.baseRate = 1;
    this.flipSide = null; // null: side by side; "left" / "right": flip mode showing that side
    this.loopCount = 0;
    this.hardSeeks = 0;
    this.seekLatency = 0; // seconds a hard seek of the follower takes here, learnt as we go
    this.hardSeekStartedAt = null;
    this.frameRequest = 0;
    this.listeners = [];

    this._tick = this._tick.bind(this);
    this._bindElements();
    this._updateUi();
  }

  PairPlayer.prototype = {
    // ----- public API (the workbench's keyboard handler calls these) -----

    togglePlay: function () {
      if (this.wantPlaying) this.pause();
      else this.play();
    },

    play: function () {
      if (this._atEnd()) this._seekBoth(0);
      this.wantPlaying = true;
      // A browser may have lowered preload (data saver); both must buffer before either starts.
      if (this.master.readyState < HAVE_FUTURE_DATA) this.master.preload = "auto";
      if (this.follower.readyState < HAVE_FUTURE_DATA) this.follower.preload = "auto";
      this._resumeWhenBothReady();
      this._startLoop();
      this._updateUi();
    },

    pause: function () {
      this.wantPlaying = false;
      this.stalled = false;
      this.master.pause();
      this.follower.pause();
      this.follower.playbackRate = this.baseRate;
      // Leave both on exactly the same instant, so a paused pair compares like for like.
      this._seekBoth(this.master.currentTime);
      this._updateUi();
    },

    step: function (frames) {
      if (this.wantPlaying) this.pause();
      var current = this.master.currentTime;
      var frameIndex = Math.floor(current * this.fps + 0.01);
      // Keep the position within the frame, so a step is exactly 1/fps, but never on a frame boundary.
      var phase = clamp(
        current - frameIndex / this.fps,
        FRAME_SEEK_OFFSET_SECONDS,
        this.frameSeconds - FRAME_SEEK_OFFSET_SECONDS,
      );
      var target = (frameIndex + (frames || 0)) / this.fps + phase;
      this._seekBoth(target);
      this._updateUi();
    },

    seek: function (seconds) {
      this._seekBoth(seconds);
      this._updateUi();
    },

    setRate: function (rate) {
      var value = numberFrom(rate, 1);
      this.baseRate = clamp(value, RATES[0], RATES[RATES.length - 1]);
      this.master.playbackRate = this.baseRate;
      this.follower.playbackRate = this.baseRate;
      this._updateUi();
      return this.baseRate;
    },

    rate: function () {
      return this.baseRate;
    },

    slower: function () {
      return this.setRate(this._neighbourRate(-1));
    },

    faster: function () {
      return this.setRate(this._neighbourRate(1));
    },

    toggleLoop: function () {
      this.looping = !this.looping;
      this._updateUi();
      return this.looping;
    },

    restart: function () {
      this._seekBoth(0);
      this.play();
    },

    // Cycles side by side -> left -> right -> side by side, so one key reaches every view.
    toggleFlip: function () {
      if (this.flipSide === null) this.setFlip("left");
      else if (this.flipSide === "left") this.setFlip("right");
      else this.setFlip(null);
      return this.flipSide;
    },

    // In flip mode, show the other side (a click on the video or the label does this).
    swapFlipSide: function () {
      if (this.flipSide) this.setFlip(this.flipSide === "left" ? "right" : "left");
      return this.flipSide;
    },

    // mode: "left" | "right" to show one side in flip mode, anything false for side by side.
    setFlip: function (mode) {
      this.flipSide = mode === "left" || mode === "right" ? mode : null;
      this._updateUi();
    },

    flipShowing: function () {
      return this.flipSide;
    },

    toggleZoom: function (side) {
      var entry = this.sides[side];
      if (!entry) return false;
      entry.zoomed = !entry.zoomed;
      if (!entry.zoomed) entry.video.style.transformOrigin = "";
      this._updateUi();
      return entry.zoomed;
    },

    fullscreen: function (side) {
      var entry = this.sides[side];
      if (!entry) return Promise.resolve(false);
      if (document.fullscreenElement === entry.figure) {
        return document.exitFullscreen().then(function () {
          return false;
        });
      }
      if (!entry.figure.requestFullscreen) return Promise.resolve(false);
      return entry.figure.requestFullscreen().then(
        function () {
          return true;
        },
        function () {
          return false;
        },
      );
    },

    currentTime: function () {
      var master = this.master;
      // Past the end of a shorter left video, the right one is still the clock worth showing.
      if (master.ended || master.currentTime >= this._durationOf(master) - 1e-3) {
        return Math.max(master.currentTime, this.follower.currentTime);
      }
      return master.currentTime;
    },

    duration: function () {
      return Math.max(this._durationOf(this.master), this._durationOf(this.follower));
    },

    // Seconds the right video is ahead (+) or behind (-) the left one, over the time both have.
    drift: function () {
      var common = Math.min(this._durationOf(this.master), this._durationOf(this.follower));
      return Math.min(this.follower.currentTime, common) - Math.min(this.master.currentTime, common);
    },

    isPlaying: function () {
      return this.wantPlaying;
    },

    stats: function () {
      return {
        hardSeeks: this.hardSeeks,
        seekLatency: this.seekLatency,
        loops: this.loopCount,
        stalled: this.stalled,
      };
    },

    destroy: function () {
      this.wantPlaying = false;
      this.master.pause();
      this.follower.pause();
      cancelAnimationFrame(this.frameRequest);
      this.frameRequest = 0;
      for (var i = 0; i < this.listeners.length; i++) {
        var entry = this.listeners[i];
        entry.target.removeEventListener(entry.type, entry.handler);
      }
      this.listeners = [];
      players.splice(players.indexOf(this), 1);
      if (keyboardOwner === this) keyboardOwner = players[0] || null;
      if (this.root.aeslabPlayer === this) delete this.root.aeslabPlayer;
    },

    // ----- keyboard -----

    handleKey: function (event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return false;
      if (isTypingTarget(event.target)) return false;
      var key = event.key;
      var insidePlayer = this.root.contains(event.target);
      var handled = true;
      if (key === " " || key === "Spacebar") {
        if (!insidePlayer && isActivatableControl(event.target)) return false;
        if (!event.repeat) this.togglePlay();
      } else if (key === "ArrowLeft") {
        this.step(-1);
      } else if (key === "ArrowRight") {
        this.step(1);
      } else if (key === "[") {
        this.slower();
      } else if (key === "]") {
        this.faster();
      } else if (key === "F" && event.shiftKey) {
        this.setFlip(null);
      } else if (event.repeat) {
        handled = false; // a held toggle key would flicker
      } else if (key === "f" || key === "F") {
        this.toggleFlip();
      } else if (key === "l" || key === "L") {
        this.toggleLoop();
      } else if (key === "r" || key === "R") {
        this.restart();
      } else if (key === "z" || key === "Z") {
        this.toggleZoom("left");
      } else if (key === "x" || key === "X") {
        this.toggleZoom("right");
      } else {
        handled = false;
      }
      // Only Space and the arrows scroll the page; the letters have no default worth stopping.
      if (handled && (key === " " || key === "Spacebar" || key === "ArrowLeft" || key === "ArrowRight")) {
        event.preventDefault();
      }
      return handled;
    },

    // ----- internals -----

    _listen: function (target, type, handler) {
      var bound = handler.bind(this);
      target.addEventListener(type, bound);
      this.listeners.push({ target: target, type: type, handler: bound });
    },

    _bindElements: function () {
      var controls = this.controls;
      this._listen(this.root, "click", this._onClick);
      if (controls.scrubber) {
        this._listen(controls.scrubber, "pointerdown", function () {
          this.scrubbing = true;
        });
        this._listen(controls.scrubber, "pointerup", function () {
          this.scrubbing = false;
        });
        this._listen(controls.scrubber, "input", function () {
          this.seek(parseFloat(controls.scrubber.value));
        });
        this._listen(controls.scrubber, "change", function () {
          this.scrubbing = false;
          this.seek(parseFloat(controls.scrubber.value));
        });
      }
      if (controls.rate) {
        this._listen(controls.rate, "change", function () {
          this.setRate(controls.rate.value);
        });
      }
      var videos = [this.master, this.follower];
      for (var i = 0; i < videos.length; i++) {
        this._listen(videos[i], "waiting", this._onWaiting);
        this._listen(videos[i], "canplay", this._resumeWhenBothReady);
        this._listen(videos[i], "seeked", this._resumeWhenBothReady);
        this._listen(videos[i], "ended", this._onEnded);
        this._listen(videos[i], "seeked", this._onSeeked);
        this._listen(videos[i], "loadedmetadata", this._updateUi);
        this._listen(videos[i], "timeupdate", this._updateUiWhenIdle);
        this._listen(videos[i], "seeked", this._updateUiWhenIdle);
      }
      this._listen(document, "fullscreenchange", this._updateUi);
    },

    _onClick: function (event) {
      var target = event.target;
      var action = target.closest && target.closest("[data-action]");
      if (action && this.root.contains(action)) {
        var side = action.getAttribute("data-target-side");
        switch (action.getAttribute("data-action")) {
          case "play":
            this.togglePlay();
            break;
          case "step-back":
            this.step(-1);
            break;
          case "step-forward":
            this.step(1);
            break;
          case "loop":
            this.toggleLoop();
            break;
          case "restart":
            this.restart();
            break;
          case "flip":
            this.setFlip(this.flipSide ? null : "left");
            break;
          case "flip-swap":
            this.swapFlipSide();
            break;
          case "zoom":
            this.toggleZoom(side);
            break;
          case "fullscreen":
            this.fullscreen(side);
            break;
        }
        return;
      }
      // A click on a zoomed video moves the zoom's focus there; in flip mode it also swaps sides.
      if (target.tagName === "VIDEO") {
        var entry = target === this.master ? this.sides.left : this.sides.right;
        if (entry.zoomed) this._panTo(entry, event);
        else if (this.flipSide) this.swapFlipSide();
      }
    },

    _panTo: function (entry, event) {
      var box = entry.viewport.getBoundingClientRect();
      var x = clamp(((event.clientX - box.left) / box.width) * 100, 0, 100);
      var y = clamp(((event.clientY - box.top) / box.height) * 100, 0, 100);
      var origin = x.toFixed(1) + "% " + y.toFixed(1) + "%";
      // Both zoomed: look at the same region of both videos, which is what a comparison needs.
      for (var name in this.sides) {
        if (this.sides[name].zoomed) this.sides[name].video.style.transformOrigin = origin;
      }
    },

    _durationOf: function (video) {
      var entry = video === this.master ? this.sides.left : this.sides.right;
      return isFinite(video.duration) && video.duration > 0 ? video.duration : entry.declaredDuration;
    },

    _atEnd: function () {
      var masterDone = this.master.ended || this.master.currentTime >= this._durationOf(this.master) - 1e-3;
      var followerDone = this.follower.ended || this.follower.currentTime >= this._durationOf(this.follower) - 1e-3;
      return masterDone && followerDone;
    },

    _seekBoth: function (seconds) {
      var target = clamp(numberFrom(seconds, 0) || 0, 0, this.duration());
      if (!isFinite(target)) target = 0;
      // A shorter video rests on its last frame while the timeline runs past its end.
      this.master.currentTime = Math.min(target, this._durationOf(this.master));
      this.follower.currentTime = Math.min(target, this._durationOf(this.follower));
    },

    _neighbourRate: function (direction) {
      var index = RATES.indexOf(this.baseRate);
      if (index === -1) index = RATES.indexOf(1);
      return RATES[clamp(index + direction, 0, RATES.length - 1)];
    },

    _isReady: function (video) {
      return video.ended || (video.readyState >= HAVE_FUTURE_DATA && !video.seeking);
    },

    // Start (or restart after buffering) both videos together, only once both can play.
    _resumeWhenBothReady: function () {
      if (!this.wantPlaying) return;
      var master = this.master;
      var follower = this.follower;
      if (!this._isReady(master) || !this._isReady(follower)) return;
      var bothRunning = !master.paused && !follower.paused;
      if (bothRunning && !this.stalled) return;
      this.stalled = false;
      master.playbackRate = this.baseRate;
      follower.playbackRate = this.baseRate;
      var masterDone = master.ended || master.currentTime >= this._durationOf(master) - 1e-3;
      var followerDone = follower.ended || follower.currentTime >= this._durationOf(follower) - 1e-3;
      if (!masterDone) ignorePlayRejection(master.play());
      if (!followerDone) ignorePlayRejection(follower.play());
      this._startLoop();
      this._updateUi();
    },

    _onSeeked: function (event) {
      if (event.target !== this.follower || this.hardSeekStartedAt === null) return;
      var seconds = (performance.now() - this.hardSeekStartedAt) / 1000;
      this.hardSeekStartedAt = null;
      // Smoothed, and capped so one slow seek (a cold cache) cannot throw the next one far ahead.
      this.seekLatency = clamp(this.seekLatency ? 0.5 * this.seekLatency + 0.5 * seconds : seconds, 0, 0.25);
    },

    // One side ran out of data: hold the other so they resume together.
    _onWaiting: function () {
      if (!this.wantPlaying) return;
      this.stalled = true;
      this.master.pause();
      this.follower.pause();
      this._updateUi();
    },

    _onEnded: function () {
      if (!this._atEnd()) return; // the other video is still playing its tail
      if (this.wantPlaying && this.looping) {
        this.loopCount += 1;
        this._seekBoth(0);
        this._resumeAfterSeek();
        this.root.dispatchEvent(new CustomEvent("pairplayer:loop", { detail: { count: this.loopCount } }));
      } else {
        this.wantPlaying = false;
        this.stalled = false;
      }
      this._updateUi();
    },

    _resumeAfterSeek: function () {
      // Pause first so _resumeWhenBothReady restarts both on the same seeked/canplay event.
      this.master.pause();
      this.follower.pause();
      this.stalled = true;
      this._resumeWhenBothReady();
    },

    _startLoop: function () {
      if (!this.frameRequest) this.frameRequest = requestAnimationFrame(this._tick);
    },

    _tick: function () {
      this.frameRequest = 0;
      if (!this.wantPlaying) {
        this._updateUi();
        return;
      }
      // Resuming normally rides on canplay/seeked; polling too means a missed event cannot leave both held.
      if (this.stalled) this._resumeWhenBothReady();
      else this._correctDrift();
      this._updateUi();
      this.frameRequest = requestAnimationFrame(this._tick);
    },

    _correctDrift: function () {
      var master = this.master;
      var follower = this.follower;
      if (this.stalled || master.paused || follower.paused || master.seeking || follower.seeking) return;
      var masterTime = master.currentTime;
      if (masterTime >= this._durationOf(follower) || master.ended) {
        // Past the end of the shorter video there is nothing to keep in step.
        follower.playbackRate = this.baseRate;
        return;
      }
      var drift = follower.currentTime - masterTime;
      if (Math.abs(drift) > this.frameSeconds) {
        // Aim where the master will be once the seek lands, or the follower lands behind again.
        var lead = this.seekLatency * this.baseRate;
        this.hardSeeks += 1;
        this.hardSeekStartedAt = performance.now();
        follower.playbackRate = this.baseRate;
        follower.currentTime = Math.min(masterTime + lead, this._durationOf(follower));
        return;
      }
      var rate = this.baseRate;
      if (Math.abs(drift) > DRIFT_DEAD_BAND_SECONDS) {
        var nudge = clamp(-drift / DRIFT_CORRECTION_SECONDS, -MAX_RATE_NUDGE * rate, MAX_RATE_NUDGE * rate);
        rate = rate + nudge;
      }
      // Setting playbackRate every frame costs a media pipeline call; skip changes too small to matter.
      if (Math.abs(follower.playbackRate - rate) > 0.002) follower.playbackRate = rate;
    },

    _updateUiWhenIdle: function () {
      if (!this.wantPlaying) this._updateUi();
    },

    _updateUi: function () {
      var controls = this.controls;
      var time = this.currentTime();
      var duration = this.duration();
      var root = this.root;
      root.classList.toggle("is-playing", this.wantPlaying);
      root.classList.toggle("is-stalled", this.stalled);
      root.classList.toggle("is-looping", this.looping);
      root.classList.toggle("is-flipping", !!this.flipSide);
      if (controls.play) {
        controls.play.setAttribute("aria-pressed", String(this.wantPlaying));
        controls.play.setAttribute("aria-label", this.wantPlaying ? "Pause (Space)" : "Play (Space)");
        controls.play.textContent = this.wantPlaying ? "Pause" : "Play";
      }
      if (controls.loop) controls.loop.setAttribute("aria-pressed", String(this.looping));
      if (controls.flip) controls.flip.setAttribute("aria-pressed", String(!!this.flipSide));
      if (controls.scrubber) {
        if (duration > 0) controls.scrubber.max = String(duration);
        if (!this.scrubbing || !this.wantPlaying) controls.scrubber.value = String(time);
      }
      if (controls.rate && parseFloat(controls.rate.value) !== this.baseRate) {
        controls.rate.value = String(this.baseRate);
      }
      if (controls.time) controls.time.textContent = formatSeconds(time) + " / " + formatSeconds(duration) + " s";
      if (controls.frame) {
        var frameTotal = this.sides.left.frameCount || Math.round(duration * this.fps);
        var frame = clamp(Math.floor(time * this.fps + 0.01) + 1, 1, Math.max(1, frameTotal));
        controls.frame.textContent = "frame " + frame + " / " + frameTotal;
      }
      for (var name in this.sides) {
        var entry = this.sides[name];
        var hiddenByFlip = !!this.flipSide && this.flipSide !== name;
        entry.figure.classList.toggle("is-flip-hidden", hiddenByFlip);
        entry.figure.setAttribute("aria-hidden", String(hiddenByFlip));
        entry.figure.classList.toggle("is-zoomed", entry.zoomed);
        entry.figure.classList.toggle("is-fullscreen", document.fullscreenElement === entry.figure);
        var zoomButton = entry.figure.querySelector('[data-action="zoom"]');
        if (zoomButton) zoomButton.setAttribute("aria-pressed", String(entry.zoomed));
      }
      if (controls.flipLabel) {
        controls.flipLabel.hidden = !this.flipSide;
        var nextView = this.flipSide === "left" ? "right" : "side by side";
        controls.flipLabel.textContent = this.flipSide
          ? "Showing " + this.flipSide.toUpperCase() + " · f: " + nextView
          : "";
        controls.flipLabel.setAttribute("data-showing", this.flipSide || "");
      }
    },
  };

  function onDocumentKeydown(event) {
    // A player swapped out of the page (htmx) hands the keyboard on to the next one.
    while (keyboardOwner && !document.contains(keyboardOwner.root)) keyboardOwner.destroy();
    if (keyboardOwner) keyboardOwner.handleKey(event);
  }

  function attach(root) {
    if (!root) throw new Error("AesLabPairPlayer.attach needs an element");
    if (root.aeslabPlayer) return root.aeslabPlayer;
    var player = new PairPlayer(root);
    root.aeslabPlayer = player;
    players.push(player);
    // Only the first player on the page answers the keyboard: two would step twice.
    if (!keyboardOwner) keyboardOwner = player;
    return player;
  }

  function attachAll(scope) {
    scope = scope || document;
    var attached = [];
    if (scope.matches && scope.matches("[data-pair-player]")) attached.push(attach(scope));
    var roots = scope.querySelectorAll("[data-pair-player]");
    for (var i = 0; i < roots.length; i++) attached.push(attach(roots[i]));
    return attached;
  }

  document.addEventListener("keydown", onDocumentKeydown);
  document.addEventListener("htmx:load", function (event) {
    attachAll(event.target && event.target.querySelectorAll ? event.target : document);
  });

  window.AesLabPairPlayer = {
    attach: attach,
    attachAll: attachAll,
    players: function () {
      return players.slice();
    },
    RATES: RATES.slice(),
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      attachAll(document);
    });
  } else {
    attachAll(document);
  }
})();
