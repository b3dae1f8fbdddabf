/*
 * The show's video in a <video>: the live stream tuned for low latency, or the replay.
 *
 *   var player = new HawkerPlayer(video, {live: true, now: serverNow, onState: fn});
 *   player.load("/hls/7/live.m3u8");
 *   player.programTime() -> ms since the epoch of the frame on screen (null: unknown)
 *   player.behind() -> seconds between now and that frame (null: unknown)
 *   player.isPlaying() -> the viewer is watching moving pictures (or waiting on a stall)
 *   player.jumpToLive(); player.destroy();
 *
 * onState(state) is told: "waiting" (no playlist yet: the host has not started), "loading",
 * "playing", "buffering", "reconnecting" (the playlist stopped growing: the host's
 * connection dropped), "ended" (the live playlist says the stream is over), "error".
 *
 * hls.js (installed from npm at setup, /static/vendor/hls.min.js) plays HLS through Media
 * Source Extensions and knows each frame's program date-time, so it is preferred wherever
 * it runs. A browser without MSE (an older iPhone) plays the playlist natively; Safari's
 * getStartDate() then gives the program date-time.
 *
 * "Now" is the server's clock (opts.now), not this device's: a phone's clock may be off by
 * more than the latency it is measuring.
 */
(function () {
  "use strict";

  // Live: stay about one 1 s segment behind the newest one, speed up a little (up to 1.5x)
  // when further behind than that, and jump when more than 4 s behind the playlist's end.
  var LIVE_CONFIG = {
    lowLatencyMode: true,
    liveSyncDuration: 1.0,
    liveMaxLatencyDuration: 4,
    maxLiveSyncPlaybackRate: 1.5,
    liveDurationInfinity: true,
    backBufferLength: 10,
    maxBufferLength: 8,
    enableWorker: true,
  };
  var REPLAY_CONFIG = { enableWorker: true, backBufferLength: 30 };
  var JUMP_BEHIND_S = 6;   // behind the picture by more than this (a stall, a sleeping tab): jump
  var STALE_EDGE_S = 5;    // the newest segment older than this: the encoder is away
  var PROBE_MS = 2000;     // how often to look for a playlist that is not there yet
  var TICK_MS = 500;

  function noop() {}

  function HawkerPlayer(video, opts) {
    opts = opts || {};
    this.video = video;
    this.live = opts.live !== false;
    this.now = opts.now || function () { return Date.now(); };
    this.onState = opts.onState || noop;
    this.hls = null;
    this.native = false;
    this.url = null;
    this.state = null;
    this.edge = null;        // program date-time (ms) of the end of the newest listed segment
    this.edgeSeenAt = 0;     // when (server ms) the edge last moved
    this.lastTime = -1;
    this.stuckTicks = 0;
    this.ended = false;
    this.destroyed = false;
    this.probeTimer = null;
    this.jumps = 0;
    var self = this;
    this.tickTimer = setInterval(function () { self.tick(); }, TICK_MS);
  }

  HawkerPlayer.supportsHls = function () {
    return !!(window.Hls && window.Hls.isSupported());
  };

  HawkerPlayer.prototype.setState = function (state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  };

  HawkerPlayer.prototype.load = function (url) {
    this.url = url;
    this.ended = false;
    this.teardown();
    this.setState("loading");
    this.probe();
  };

  // Only attach the player once the playlist exists: until the host starts, a 404 is the
  // normal answer, and hls.js would give up on it.
  HawkerPlayer.prototype.probe = function () {
    var self = this;
    clearTimeout(this.probeTimer);
    if (this.destroyed) return;
    fetch(this.url, { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      if (self.destroyed) return;
      if (r.ok) return self.attach();
      self.setState("waiting");
      self.probeTimer = setTimeout(function () { self.probe(); }, PROBE_MS);
    }).catch(function () {
      if (self.destroyed) return;
      self.setState("waiting");
      self.probeTimer = setTimeout(function () { self.probe(); }, PROBE_MS);
    });
  };

  HawkerPlayer.prototype.attach = function () {
    var self = this;
    var video = this.video;
    this.teardown();
    this.edge = null;
    this.edgeSeenAt = this.now();
    if (HawkerPlayer.supportsHls()) {
      var Hls = window.Hls;
      var hls = this.hls = new Hls(this.live ? LIVE_CONFIG : REPLAY_CONFIG);
      hls.on(Hls.Events.MANIFEST_PARSED, function () { self.play(); });
      hls.on(Hls.Events.LEVEL_UPDATED, function (_, data) { self.levelUpdated(data.details); });
      hls.on(Hls.Events.ERROR, function (_, data) { self.hlsError(data); });
      hls.loadSource(this.url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      this.native = true;
      video.src = this.url;
      video.addEventListener("loadedmetadata", function once() {
        video.removeEventListener("loadedmetadata", once);
        self.play();
      });
    } else {
      this.setState("error");
    }
  };

  HawkerPlayer.prototype.play = function () {
    var p = this.video.play();
    // Autoplay with sound is refused until the viewer taps; muted autoplay is allowed.
    if (p && p.catch) p.catch(noop);
  };

  HawkerPlayer.prototype.levelUpdated = function (details) {
    var frags = details && details.fragments;
    if (details && details.endList && this.live) {
      this.ended = true;
    }
    if (!frags || !frags.length) return;
    var last = frags[frags.length - 1];
    if (typeof last.programDateTime !== "number") return;
    var edge = last.programDateTime + last.duration * 1000;
    if (this.edge === null || edge > this.edge) {
      this.edge = edge;
      this.edgeSeenAt = this.now();
    }
  };

  HawkerPlayer.prototype.hlsError = function (data) {
    if (!data.fatal || this.destroyed) return;
    var Hls = window.Hls;
    var self = this;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      this.hls.recoverMediaError();
      return;
    }
    // The playlist went away or the network failed: start over from the probe, which waits
    // quietly for the stream to come back.
    this.teardown();
    this.setState(this.live ? "reconnecting" : "error");
    this.probeTimer = setTimeout(function () { self.probe(); }, PROBE_MS);
  };

  HawkerPlayer.prototype.teardown = function () {
    clearTimeout(this.probeTimer);
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.native) {
      this.video.removeAttribute("src");
      this.video.load();
      this.native = false;
    }
  };

  HawkerPlayer.prototype.destroy = function () {
    this.destroyed = true;
    clearInterval(this.tickTimer);
    this.teardown();
  };

  HawkerPlayer.prototype.attached = function () {
    return !!this.hls || this.native;
  };

  HawkerPlayer.prototype.programTime = function () {
    if (this.hls) {
      var date = this.hls.playingDate;
      return date ? date.getTime() : null;
    }
    if (this.native && typeof this.video.getStartDate === "function") {
      var start = this.video.getStartDate().getTime();
      return isNaN(start) ? null : start + this.video.currentTime * 1000;
    }
    return null;
  };

  HawkerPlayer.prototype.behind = function () {
    var shown = this.programTime();
    return shown === null ? null : Math.max(0, (this.now() - shown) / 1000);
  };

  HawkerPlayer.prototype.isPlaying = function () {
    var v = this.video;
    return this.attached() && !v.paused && !v.ended && this.programTime() !== null;
  };

  HawkerPlayer.prototype.jumpToLive = function () {
    var v = this.video;
    var target = null;
    if (this.hls && typeof this.hls.liveSyncPosition === "number") target = this.hls.liveSyncPosition;
    else if (v.seekable && v.seekable.length) target = v.seekable.end(v.seekable.length - 1) - 2;
    if (target !== null && target > v.currentTime) {
      this.jumps += 1;
      v.currentTime = target;
    }
    if (v.paused) this.play();
  };

  HawkerPlayer.prototype.tick = function () {
    if (this.destroyed || !this.attached()) return;
    var v = this.video;
    var moving = v.currentTime !== this.lastTime && !v.paused;
    this.lastTime = v.currentTime;
    this.stuckTicks = moving ? 0 : this.stuckTicks + 1;
    if (this.live && this.ended && (v.ended || this.stuckTicks > 2)) {
      this.setState("ended");
      return;
    }
    var stale = this.live && this.edge !== null && this.now() - this.edgeSeenAt > STALE_EDGE_S * 1000;
    if (moving && v.readyState >= 2) {
      this.setState("playing");
    } else if (stale) {
      this.setState("reconnecting");
    } else if (!v.paused && this.stuckTicks > 1) {
      this.setState("buffering");
    }
    // Far behind after a stall or a tab that slept: jump rather than crawl back.
    if (this.live && !v.paused && !stale) {
      var behind = this.behind();
      if (behind !== null && behind > JUMP_BEHIND_S) this.jumpToLive();
    }
  };

  window.HawkerPlayer = HawkerPlayer;
})();
