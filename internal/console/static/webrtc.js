// WHIP publishing and WHEP playing from the browser, and the readout of a session's figures.
import { authHeaders, bitrate } from "./api.js";

// vigil answers with every candidate in the SDP (no trickle), so the offer waits for its own
// gathering to end, but not forever: what is gathered after 3 s is usually all there is.
function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
    setTimeout(resolve, 3000);
  });
}

async function exchange(pc, url) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const resp = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...authHeaders() },
    body: pc.localDescription.sdp,
  });
  const body = await resp.text();
  if (resp.status !== 201) {
    let msg = body.trim();
    try { msg = JSON.parse(body).message; } catch (err) { /* not JSON */ }
    throw new Error("the server answered " + resp.status + ": " + (msg || resp.statusText));
  }
  const resource = new URL(resp.headers.get("Location"), location.href).toString();
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return resource;
}

async function endSession(resource) {
  if (!resource) return;
  try { await fetch(resource, { method: "DELETE", headers: authHeaders() }); } catch (err) { /* server gone */ }
}

function preferCodec(transceiver, codec) {
  const caps = RTCRtpSender.getCapabilities("video");
  if (!caps || !transceiver.setCodecPreferences) return;
  const mime = "VIDEO/" + codec.toUpperCase();
  const want = caps.codecs.filter((c) => c.mimeType.toUpperCase() === mime);
  const rest = caps.codecs.filter((c) => c.mimeType.toUpperCase() !== mime);
  if (want.length) transceiver.setCodecPreferences(want.concat(rest));
}

// Session is one peer connection to the server, publishing or playing.
export class Session {
  constructor(pc, media) {
    this.pc = pc;
    this.media = media;
    this.resource = null;
  }

  async close() {
    const resource = this.resource;
    this.resource = null;
    await endSession(resource);
    this.pc.close();
    if (this.media) this.media.getTracks().forEach((t) => t.stop());
  }
}

export const resolutions = {
  "240p": { width: 426, height: 240 },
  "720p": { width: 1280, height: 720 },
  "1080p": { width: 1920, height: 1080 },
};

// publish sends the camera and microphone to /whip/{name}. bitrate is in kb/s (0: the
// browser's choice).
export async function publish(name, { resolution = "720p", codec = "VP8", bitrate = 0, onState } = {}) {
  const size = resolutions[resolution] || resolutions["720p"];
  const media = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: size.width }, height: { ideal: size.height } }, audio: true,
  });
  const pc = new RTCPeerConnection();
  const s = new Session(pc, media);
  try {
    if (onState) pc.addEventListener("connectionstatechange", () => onState(pc.connectionState));
    for (const track of media.getTracks()) {
      const tr = pc.addTransceiver(track, { direction: "sendonly" });
      if (track.kind === "video") {
        preferCodec(tr, codec);
        if (bitrate > 0) {
          const params = tr.sender.getParameters();
          params.encodings = [{ maxBitrate: bitrate * 1000 }];
          await tr.sender.setParameters(params).catch(() => { /* applied after negotiation instead */ });
          s.videoSender = tr.sender;
          s.bitrate = bitrate;
        }
      }
    }
    s.resource = await exchange(pc, "/whip/" + encodeURIComponent(name));
    if (s.videoSender) {
      const params = s.videoSender.getParameters();
      if (params.encodings && params.encodings.length) {
        params.encodings[0].maxBitrate = s.bitrate * 1000;
        await s.videoSender.setParameters(params).catch(() => {});
      }
    }
    return s;
  } catch (err) {
    await s.close();
    throw err;
  }
}

// play receives /whep/{name} into video.
export async function play(name, video, { onState } = {}) {
  const pc = new RTCPeerConnection();
  const s = new Session(pc, null);
  try {
    if (onState) pc.addEventListener("connectionstatechange", () => onState(pc.connectionState));
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.addEventListener("track", (ev) => {
      stream.addTrack(ev.track);
      video.srcObject = stream;
    });
    s.resource = await exchange(pc, "/whep/" + encodeURIComponent(name));
    return s;
  } catch (err) {
    await s.close();
    throw err;
  }
}

// Readout turns a session's getStats into figures: video bitrate, frame rate and size, audio
// packets, and the latency a viewer sees (half the round trip plus the jitter buffer).
export class Readout {
  constructor(pc) {
    this.pc = pc;
    this.last = null;
  }

  async read() {
    const report = await this.pc.getStats();
    const out = { bitrate: 0, fps: 0, width: 0, height: 0, audioPackets: 0, latencyMs: null, lost: 0 };
    let video = null;
    let rtt = null;
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") video = r;
      if (r.type === "inbound-rtp" && r.kind === "audio") out.audioPackets = r.packetsReceived || 0;
      if (r.type === "outbound-rtp" && r.kind === "video" && !video) video = r;
      if (r.type === "candidate-pair" && r.nominated && r.currentRoundTripTime !== undefined) rtt = r.currentRoundTripTime;
    });
    if (video) {
      const bytes = video.bytesReceived !== undefined ? video.bytesReceived : video.bytesSent;
      if (this.last && video.timestamp > this.last.timestamp) {
        out.bitrate = ((bytes - this.last.bytes) * 8 * 1000) / (video.timestamp - this.last.timestamp);
      }
      this.last = { bytes, timestamp: video.timestamp };
      out.fps = video.framesPerSecond || 0;
      out.width = video.frameWidth || 0;
      out.height = video.frameHeight || 0;
      out.lost = video.packetsLost || 0;
      let buffer = 0;
      if (video.jitterBufferEmittedCount) buffer = (video.jitterBufferDelay / video.jitterBufferEmittedCount) * 1000;
      if (rtt !== null) out.latencyMs = Math.round((rtt * 1000) / 2 + buffer);
    }
    return out;
  }
}

// readoutText is a Readout's figures as the players show them.
export function readoutText(r) {
  const parts = [];
  if (r.width) parts.push(r.width + "×" + r.height);
  if (r.fps) parts.push(Math.round(r.fps) + " fps");
  parts.push(bitrate(r.bitrate));
  if (r.latencyMs !== null) parts.push("latency ≈ " + r.latencyMs + " ms");
  return parts.join(" · ");
}
