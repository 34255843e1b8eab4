// The player page of one stream (/watch/{name}): WHEP into a <video>, embeddable in an iframe.
// It connects again on its own when the stream goes away and comes back.
import { play, Readout, readoutText } from "./webrtc.js";

const $ = (id) => document.getElementById(id);
const name = decodeURIComponent(location.pathname.replace(/^\/watch\//, "").replace(/\/$/, ""));
const video = $("video");
const state = { session: null, readout: null };
window.vigil = { player: state };

$("watch-name").textContent = name;
document.title = "vigil — " + name;

function setState(text) { $("state").textContent = text; }

async function connect() {
  try {
    setState("connecting");
    state.session = await play(name, video, {
      onState: (s) => {
        if (s === "connected") setState("playing");
        if (s === "failed" || s === "closed" || s === "disconnected") {
          setState("stream ended; retrying");
          retry();
        }
      },
    });
    state.readout = new Readout(state.session.pc);
  } catch (err) {
    setState(err.message + "; retrying");
    retry();
  }
}

let retrying = null;
function retry() {
  if (retrying) return;
  const old = state.session;
  state.session = null;
  state.readout = null;
  if (old) old.close();
  retrying = setTimeout(() => { retrying = null; connect(); }, 2000);
}

$("mute").addEventListener("click", () => {
  video.muted = !video.muted;
  $("mute").textContent = video.muted ? "Unmute" : "Mute";
});
$("fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else video.requestFullscreen().catch((err) => setState("full screen refused: " + err.message));
});

setInterval(async () => {
  if (!state.readout) { $("readout").textContent = ""; return; }
  const r = await state.readout.read().catch(() => null);
  if (!r) return;
  $("readout").textContent = readoutText(r);
}, 1000);

window.addEventListener("pagehide", () => { if (state.session) state.session.close(); });
connect();
