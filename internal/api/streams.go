package api

import (
	"net/http"
	"runtime"
	"time"

	"github.com/vigilrec/vigil/internal/hub"
)

// streamJSON is a live stream in the native API.
type streamJSON struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	Status          string     `json:"status"`
	CreatedAt       time.Time  `json:"createdAt"`
	Video           *trackJSON `json:"video,omitempty"`
	Audio           *trackJSON `json:"audio,omitempty"`
	NACKs           uint64     `json:"nacks"`
	PLIs            uint64     `json:"plis"`
	Subscribers     int        `json:"subscribers"`
	SubscriberDrops uint64     `json:"subscriberDrops"`
	// Degraded and Reasons: see metrics.go and docs/metrics.md.
	Degraded bool     `json:"degraded"`
	Reasons  []string `json:"reasons"`
	// Recording is the stream's active recording, if any.
	Recording *streamRecordingJSON `json:"recording,omitempty"`
}

// streamRecordingJSON is what a stream's answer says of its active recording; the whole of it is
// at /api/v1/streams/{name}/recording.
type streamRecordingJSON struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	StartedAt time.Time `json:"startedAt"`
	Duration  float64   `json:"duration"`
	Rotation  string    `json:"rotation"`
}

type trackJSON struct {
	Codec     string  `json:"codec"`
	Width     int     `json:"width,omitempty"`
	Height    int     `json:"height,omitempty"`
	FPS       float64 `json:"fps"`
	Bitrate   float64 `json:"bitrate"`
	Packets   uint64  `json:"packets"`
	Bytes     uint64  `json:"bytes"`
	Lost      uint64  `json:"lost"`
	Frames    uint64  `json:"frames"`
	Keyframes uint64  `json:"keyframes,omitempty"`
}

func nativeStatus(snap hub.Snapshot) string {
	if snap.Publishing() {
		return "publishing"
	}
	return "pending"
}

func toTrackJSON(t *hub.TrackStats) *trackJSON {
	if t == nil {
		return nil
	}
	return &trackJSON{Codec: string(t.Codec), Width: t.Width, Height: t.Height, FPS: t.FPS, Bitrate: t.Bitrate,
		Packets: t.Packets, Bytes: t.Bytes, Lost: t.Lost, Frames: t.Frames, Keyframes: t.Keyframes}
}

func toStreamJSON(snap hub.Snapshot) streamJSON {
	return streamJSON{
		ID: snap.ID, Name: snap.Name, Status: nativeStatus(snap), CreatedAt: snap.Created.UTC(),
		Video: toTrackJSON(snap.Video), Audio: toTrackJSON(snap.Audio),
		NACKs: snap.NACKs, PLIs: snap.PLIs, Subscribers: snap.Subscribers, SubscriberDrops: snap.SubscriberDrops,
	}
}

func (s *Server) handleListStreams(w http.ResponseWriter, r *http.Request) {
	list := s.deps.Streams.List()
	grant := grantOf(r)
	out := make([]streamJSON, 0, len(list))
	for _, st := range list {
		if grant.Covers(st.Name()) {
			out = append(out, s.streamJSONOf(st.Snapshot()))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": out})
}

func (s *Server) handleGetStream(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Streams.Get(r.PathValue("name"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, s.streamJSONOf(st.Snapshot()))
}

// handleKickStream disconnects the publisher and answers once the stream has left.
func (s *Server) handleKickStream(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Streams.Get(r.PathValue("name"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	if err := disconnectAndWait(r, st); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func disconnectAndWait(r *http.Request, st *hub.Stream) error {
	st.Disconnect()
	select {
	case <-st.Done():
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	udp, err := s.deps.Stats.UDPStats()
	udpJSON := map[string]any{"receiveBuffer": udp.ReceiveBuffer, "drops": udp.Drops, "reads": udp.Reads,
		"datagrams": udp.Datagrams, "oversized": udp.Oversized}
	if err != nil {
		udpJSON["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"streams":    len(s.deps.Streams.List()),
		"viewers":    s.deps.Stats.Viewers(),
		"goroutines": runtime.NumGoroutine(),
		"udp":        udpJSON,
		"auth":       s.deps.AuthState,
	})
}
