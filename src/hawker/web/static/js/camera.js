/* "Go live with camera": the host's camera and microphone, recorded by MediaRecorder and
 * sent to /ws/ingest/{show_id}, where the server packages them like an RTMP stream.
 *
 * Why MediaRecorder over a WebSocket and not WebRTC: the server already turns one
 * encoder's stream into HLS; a recording in chunks is one more input for it, with no
 * ICE/DTLS/SRTP stack on the server. Glass-to-glass latency is set by the HLS segments,
 * not by the uplink, so WebRTC's lower uplink delay would not reach the viewers.
 *
 * H.264 is asked for first (the server copies it; only Opus becomes AAC); VP9 is the
 * fallback, at a smaller picture because the server re-encodes it. A WebM stream cannot
 * lose a chunk, so a slow uplink is met by starting a new recording at a lower bitrate,
 * and a dropped socket by a new one: the server resumes the same recording either way.
 */
(function () {
  "use strict";

  var box = document.getElementById("cx-camera");
  if (!box) return;
  var showId = box.getAttribute("data-show-id");
  var button = document.getElementById("cx-camera-go");
  var preview = document.getElementById("cx-camera-preview");
  var statusLine = document.getElementById("cx-camera-status");

  var TYPES = [
    { mime: "video/webm;codecs=h264,opus", copy: true },
    { mime: "video/webm;codecs=avc1,opus", copy: true },
    { mime: "video/x-matroska;codecs=avc1,opus", copy: true },
    { mime: "video/webm;codecs=vp9,opus", copy: false },
  ];
  // Picture and bitrate steps; a re-encoded (VP9) stream starts lower to spare the server.
  var LADDER = [
    { width: 1280, height: 720, bits: 2500000 },
    { width: 960, height: 540, bits: 1200000 },
    { width: 640, height: 360, bits: 600000 },
    { width: 426, height: 240, bits: 300000 },
  ];
  var NO_RETRY = { 4400: 1, 4401: 1, 4403: 1, 4404: 1, 4409: 1 };
  var CHUNK_MS = 250;
  var BEHIND_S = 3; // this much unsent data: the uplink cannot keep up

  var media = null; // MediaStream
  var socket = null;
  var recorder = null;
  var type = null;
  var rung = 0;
  var wanted = false; // the host wants to be live
  var retries = 0;
  var retryTimer = null;

  function say(text, bad) {
    statusLine.textContent = text;
    statusLine.classList.toggle("bad", !!bad);
    box.setAttribute("data-state", bad ? "error" : wanted ? "on" : "off");
  }

  function pickType() {
    if (!window.MediaRecorder || !MediaRecorder.isTypeSupported) return null;
    for (var i = 0; i < TYPES.length; i++) {
      if (MediaRecorder.isTypeSupported(TYPES[i].mime)) return TYPES[i];
    }
    return null;
  }

  function socketUrl() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + "/ws/ingest/" + showId;
  }

  function fit(limits) {
    // The largest step the server accepts and, for VP9, no larger than 540p.
    var first = type.copy ? 0 : 1;
    rung = Math.max(rung, first);
    while (rung < LADDER.length - 1 &&
           LADDER[rung].width * LADDER[rung].height > limits.max_pixels) rung++;
    var step = LADDER[rung];
    var track = media.getVideoTracks()[0];
    var fps = Math.min(30, limits.max_fps || 30);
    return track.applyConstraints({ width: { max: step.width }, height: { max: step.height },
                                    frameRate: { max: fps } })
      .catch(function () { /* the camera keeps its size; the server still checks it */ });
  }

  function record(limits) {
    var step = LADDER[rung];
    var options = {
      mimeType: type.mime,
      videoBitsPerSecond: step.bits,
      audioBitsPerSecond: 96000,
      // A keyframe per HLS segment: the server cuts segments at keyframes.
      videoKeyFrameIntervalDuration: limits.keyframe_interval_ms,
    };
    var rec = recorder = new MediaRecorder(media, options);
    var limit = limits.max_frame_bytes;
    var ws = socket;
    rec.ondataavailable = function (event) {
      if (ws.readyState !== WebSocket.OPEN || !event.data.size) return;
      for (var at = 0; at < event.data.size; at += limit) {
        ws.send(event.data.slice(at, at + limit)); // a Blob: no copy into script memory
      }
      if (ws.bufferedAmount > step.bits / 8 * BEHIND_S && rung < LADDER.length - 1) {
        rung++;
        say(t("The connection is slow: going down to {height}p…", { height: LADDER[rung].height }));
        restart(0);
      }
    };
    rec.onerror = function () { restart(1000); };
    rec.start(CHUNK_MS);
  }

  function stopRecorder() {
    if (recorder && recorder.state !== "inactive") {
      try { recorder.stop(); } catch (e) { /* already stopped */ }
    }
    recorder = null;
  }

  function connect() {
    clearTimeout(retryTimer);
    var ws = socket = new WebSocket(socketUrl());
    ws.binaryType = "arraybuffer";
    var problem = null;
    ws.onmessage = function (event) {
      if (typeof event.data !== "string") return;
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "ready") {
        retries = 0;
        fit(frame).then(function () {
          if (socket !== ws || !wanted) return;
          record(frame);
          say(t("Live from your camera ({height}p, {codec}).", { height: LADDER[rung].height, codec: type.copy ? "H.264" : "VP9" }));
        });
      } else if (frame.type === "status") {
        var h = frame.health || {};
        var text = t("Live from your camera");
        if (h.width) text += " · " + h.width + "×" + h.height;
        if (h.fps) text += " · " + h.fps + " fps";
        if (h.bitrate_kbps) text += " · " + Math.round(h.bitrate_kbps) + " kb/s";
        say(text + " · " + frame.state);
      } else if (frame.type === "error") {
        problem = frame.message;
      }
    };
    ws.onclose = function (event) {
      if (socket !== ws) return; // a socket we replaced on purpose
      stopRecorder();
      socket = null;
      if (!wanted) return;
      if (NO_RETRY[event.code]) {
        wanted = false;
        release();
        say(problem || t("The server ended the camera stream."), true);
        button.textContent = t("Go live with camera");
        return;
      }
      retries++;
      var wait = Math.min(10000, 500 * Math.pow(2, retries));
      say(t("Connection lost; reconnecting in {n} s…", { n: Math.round(wait / 1000) }), true);
      retryTimer = setTimeout(function () { if (wanted) connect(); }, wait);
    };
  }

  function restart(delay) {
    // A new recording on a new socket: the server resumes the show's recording.
    var old = socket;
    socket = null;
    stopRecorder();
    if (old) old.close(1000, "restart");
    retryTimer = setTimeout(function () { if (wanted) connect(); }, delay);
  }

  function release() {
    if (media) media.getTracks().forEach(function (t) { t.stop(); });
    media = null;
    preview.srcObject = null;
    preview.hidden = true;
  }

  function start() {
    type = pickType();
    if (!type) {
      say(t("This browser cannot record H.264 or VP9 video. Use Chrome or Edge, or stream from OBS."), true);
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(t("The camera needs a secure page (https)."), true);
      return;
    }
    wanted = true;
    rung = 0;
    button.disabled = true;
    say(t("Asking for your camera and microphone…"));
    navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } },
      audio: { echoCancellation: true, noiseSuppression: true },
    }).then(function (stream) {
      media = stream;
      preview.srcObject = stream;
      preview.hidden = false;
      preview.play().catch(function () {});
      stream.getVideoTracks()[0].onended = function () { stop(t("The camera was switched off.")); };
      button.disabled = false;
      button.textContent = t("Stop camera");
      say(t("Connecting…"));
      connect();
    }).catch(function (err) {
      wanted = false;
      button.disabled = false;
      say(t("No camera: {reason}.", { reason: err && err.message ? err.message : t("permission denied") }), true);
    });
  }

  function stop(message) {
    wanted = false;
    clearTimeout(retryTimer);
    var ws = socket;
    socket = null;
    var rec = recorder;
    recorder = null;
    if (rec && rec.state !== "inactive") {
      // Send the last chunk, then close: the show keeps everything recorded so far.
      rec.onstop = function () { if (ws) ws.close(1000, "stopped"); };
      rec.stop();
    } else if (ws) {
      ws.close(1000, "stopped");
    }
    release();
    button.textContent = t("Go live with camera");
    say(message || t("Camera off. Viewers see the show as reconnecting until you come back."));
  }

  button.addEventListener("click", function () {
    if (wanted) stop(); else start();
  });
})();
