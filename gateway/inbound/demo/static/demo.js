// voice-gateway WebRTC demo: no build step. State is mirrored on window.demo for tests and curious people.
"use strict";

const $ = (id) => document.getElementById(id);
const ENDPOINTS = { agent: "/v1/realtime/calls", transcription: "/v1/realtime/calls", translation: "/v1/realtime/translations/calls" };
const LEVEL = 0.02; // RMS (full scale 1.0) above which a 10 ms analyser window counts as sound

const demo = (window.demo = {
  status: "idle", route: null, sessionId: null, credential: null, events: [], errors: [], capWarnings: [],
  transcript: "", userTranscript: "", spend: null, spendSamples: [],
  output: { peak: 0, activeMs: 0, firstAt: null, onsets: [] },
  input: { peak: 0, activeMs: 0, firstAt: null, onsets: [] },
  dataChannel: "none", connection: "new",
});
let pc = null, dc = null, ctx = null, timers = [];

function setStatus(text) { demo.status = text; $("status").textContent = text; }

function line(text, cls) {
  const p = document.createElement("p");
  if (cls) p.className = cls;
  p.textContent = text;
  $("transcript").appendChild(p);
  return p;
}

// --- levels: an AnalyserNode per direction; onsets are silence→sound edges (for latency) -----------
function watchLevel(stream, into, fill) {
  const source = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  let loud = false, quietSince = 0;
  timers.push(setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    const rms = Math.sqrt(sum / buf.length), now = performance.now();
    into.peak = Math.max(into.peak, rms);
    fill.style.width = Math.min(100, rms * 400) + "%";
    if (rms > LEVEL) {
      into.activeMs += 10;
      if (into.firstAt === null) into.firstAt = now;
      if (!loud && now - quietSince > 150) into.onsets.push(now);
      loud = true;
    } else {
      if (loud) quietSince = now;
      loud = false;
    }
  }, 10));
}

// --- spend against the cap -------------------------------------------------------------------------
function showSpend(spend, cap) {
  demo.spend = { spend_micros: spend, cap_micros: cap };
  demo.spendSamples.push(spend);
  const ratio = cap ? spend / cap : 0;
  $("spend-fill").style.width = Math.min(100, ratio * 100) + "%";
  $("spend-fill").parentElement.className = "bar" + (ratio >= 1 ? " over" : ratio >= 0.8 ? " warn" : "");
  const usd = (m) => "$" + (m / 1e6).toFixed(4);
  $("spend-text").textContent = cap ? `${usd(spend)} of ${usd(cap)}` : usd(spend);
}

async function pollSpend() {
  if (!demo.sessionId) return;
  try {
    const r = await fetch(`/demo/api/session/${demo.sessionId}`);
    if (r.ok) { const s = await r.json(); showSpend(s.spend_micros, s.cap_micros); }
  } catch (e) { /* the next poll tries again */ }
}

// --- events from the gateway ---------------------------------------------------------------------
let agentLine = null, userLine = null;
function onEvent(ev) {
  demo.events.push(ev.type);
  // tests script a client's reactions here (e.g. to speech_started); send goes out on the data channel
  if (window.demoHook) window.demoHook(ev, (event) => { if (dc && dc.readyState === "open") dc.send(JSON.stringify(event)); }, pc);
  switch (ev.type) {
    case "response.output_audio_transcript.delta":
    case "response.output_text.delta":
    case "session.output_transcript.delta":
      agentLine = agentLine || line("", "agent");
      agentLine.textContent += ev.delta;
      demo.transcript += ev.delta;
      break;
    case "response.done":
      agentLine = null;
      break;
    case "conversation.item.input_audio_transcription.delta":
      userLine = userLine || line("", "user");
      userLine.textContent += ev.delta;
      demo.userTranscript += ev.delta;
      break;
    case "conversation.item.input_audio_transcription.completed":
      if (!userLine) { line(ev.transcript, "user"); demo.userTranscript += ev.transcript; }
      userLine = null;
      break;
    case "gateway.cap_warning":
      demo.capWarnings.push(ev);
      line(`Cap warning: ${ev.cap || "session"} at ${Math.round((ev.ratio || 0) * 100)}%`, "note");
      if (ev.used_micros !== undefined && ev.limit_micros !== undefined) showSpend(ev.used_micros, ev.limit_micros);
      break;
    case "error":
      demo.errors.push(ev.error || {});
      line(`Error: ${(ev.error && ev.error.message) || "unknown"}`, "note");
      break;
  }
}

async function gathered(peer, timeoutMs) {
  if (peer.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const done = () => { if (peer.iceGatheringState === "complete") resolve(); };
    peer.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs);
  });
}

// --- one call --------------------------------------------------------------------------------------
async function start() {
  const route = $("route").value;
  Object.assign(demo, {
    route, status: "starting", sessionId: null, events: [], errors: [], capWarnings: [], transcript: "", userTranscript: "",
    spend: null, spendSamples: [], dataChannel: "none", connection: "new", dtls: "new",
    output: { peak: 0, activeMs: 0, firstAt: null, onsets: [] }, input: { peak: 0, activeMs: 0, firstAt: null, onsets: [] },
  });
  $("start").disabled = true;
  $("transcript").textContent = "";
  try {
    setStatus("getting a client secret");
    const secretReply = await fetch(`/demo/api/secret?route=${route}`, { method: "POST" });
    const secret = await secretReply.json();
    if (!secretReply.ok) throw new Error(secret.error ? secret.error.message : "no credential");
    demo.credential = secret.kind;
    ctx = new AudioContext();
    await ctx.resume();
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    watchLevel(mic, demo.input, $("mic-fill"));
    pc = new RTCPeerConnection();
    pc.addTrack(mic.getAudioTracks()[0], mic);
    pc.ontrack = (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      $("voice").srcObject = stream; // Chrome only feeds remote audio to WebAudio while an element plays it
      watchLevel(stream, demo.output, $("voice-fill"));
    };
    pc.onconnectionstatechange = () => {
      demo.connection = pc.connectionState;
      if (["failed", "closed", "disconnected"].includes(pc.connectionState)) setStatus(`call ${pc.connectionState}`);
    };
    dc = pc.createDataChannel("oai-events");
    dc.onopen = () => { demo.dataChannel = "open"; setStatus("live: speak"); };
    dc.onclose = () => { demo.dataChannel = "closed"; setStatus("ended"); $("stop").disabled = true; $("start").disabled = false; };
    dc.onmessage = (e) => onEvent(JSON.parse(e.data));
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 2000);
    setStatus("calling the gateway");
    const headers = { Authorization: `Bearer ${secret.value}` };
    let body;
    if (secret.kind === "client_secret") {
      headers["Content-Type"] = "application/sdp"; // the session config is bound to the secret
      body = pc.localDescription.sdp;
    } else {
      body = new FormData(); // the loopback fallback: send the session config with the offer
      body.set("sdp", pc.localDescription.sdp);
      body.set("session", JSON.stringify(secret.session));
    }
    const answer = await fetch(ENDPOINTS[route], { method: "POST", headers, body });
    const text = await answer.text();
    if (answer.status !== 201) throw new Error(`gateway refused (${answer.status}): ${text}`);
    demo.sessionId = (answer.headers.get("Location") || "").split("/").pop();
    $("session-id").textContent = demo.sessionId;
    $("route-info").textContent = `${route} via ${ENDPOINTS[route]} (${secret.kind.replace("_", " ")})`;
    await pc.setRemoteDescription({ type: "answer", sdp: text });
    if (pc.sctp) {
      demo.dtls = pc.sctp.transport.state;
      pc.sctp.transport.addEventListener("statechange", () => { demo.dtls = pc.sctp.transport.state; });
    }
    timers.push(setInterval(pollSpend, 500));
    if (route === "transcription") {
      // gpt-realtime-whisper has no VAD: commit the buffer every 2 s
      timers.push(setInterval(() => { if (dc.readyState === "open") dc.send(JSON.stringify({ type: "input_audio_buffer.commit" })); }, 2000));
    }
    $("stop").disabled = false;
  } catch (err) {
    demo.errors.push({ message: String(err.message || err) });
    setStatus("failed: " + (err.message || err));
    stop();
  }
}

function stop() {
  timers.forEach(clearInterval);
  timers = [];
  if (dc) dc.close();
  if (pc) pc.close();
  pc = dc = null;
  $("stop").disabled = true;
  $("start").disabled = false;
  if (!demo.status.startsWith("failed")) setStatus("stopped");
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
window.demoStart = (route) => { $("route").value = route; return start(); };
window.demoStop = stop;
