package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/hub"
)

// The Web Call Server compatible API: the shapes scripts written for that server parse, on the same
// paths. Answers are compact JSON on one line with mediaSessionId then name first in every object,
// because shell scripts grep them (see docs/wcs-api.md).

// wcsStream is a stream object. Field order matters: scripts match `"mediaSessionId":"…","name"`.
type wcsStream struct {
	MediaSessionID string         `json:"mediaSessionId"`
	Name           string         `json:"name"`
	Published      bool           `json:"published"`
	HasVideo       bool           `json:"hasVideo"`
	HasAudio       bool           `json:"hasAudio"`
	Status         string         `json:"status"`
	AudioCodec     string         `json:"audioCodec"`
	VideoCodec     string         `json:"videoCodec"`
	Record         bool           `json:"record"`
	Width          int            `json:"width"`
	Height         int            `json:"height"`
	Bitrate        int64          `json:"bitrate"`
	FPS            float64        `json:"fps"`
	CreateDate     int64          `json:"createDate"`
	MediaType      string         `json:"mediaType"`
	MediaProvider  string         `json:"mediaProvider"`
	Transport      string         `json:"transport"`
	Metrics        map[string]any `json:"metrics,omitempty"`
}

// wcsFilter is the body of stream/find (and the optional body of find_all).
type wcsFilter struct {
	MediaSessionID string   `json:"mediaSessionId"`
	Name           string   `json:"name"`
	Published      *bool    `json:"published"`
	Status         string   `json:"status"`
	Display        []string `json:"display"`
}

func (s *Server) wcsRoutes() {
	s.handle("POST /rest-api/stream/find", perStream(auth.Read), s.onStreamNode(byBody, s.handleWCSFind(false)))
	s.handle("POST /rest-api/stream/find_all", perStream(auth.Read), s.handleWCSFind(true))
	s.handle("GET /rest-api/stream/find_all", perStream(auth.Read), s.handleWCSFind(true))
	s.handle("POST /rest-api/stream/terminate", perStream(auth.Admin), s.onStreamNode(byBody, s.handleWCSTerminate))
}

func wcsStatus(snap hub.Snapshot) string {
	if snap.Publishing() {
		return "PUBLISHING"
	}
	return "PENDING"
}

func (f wcsFilter) matches(snap hub.Snapshot) bool {
	return (f.MediaSessionID == "" || f.MediaSessionID == snap.ID) &&
		(f.Name == "" || f.Name == snap.Name) &&
		(f.Published == nil || *f.Published) && // every stream in the hub is a published one
		(f.Status == "" || f.Status == wcsStatus(snap))
}

func toWCSStream(snap hub.Snapshot, record, withMetrics bool) wcsStream {
	out := wcsStream{
		MediaSessionID: snap.ID, Name: snap.Name, Published: true, Record: record,
		HasVideo: snap.Video != nil, HasAudio: snap.Audio != nil, Status: wcsStatus(snap),
		CreateDate: snap.Created.UnixMilli(), MediaType: "publish", MediaProvider: "WebRTC", Transport: "UDP",
	}
	var bitrate float64
	if v := snap.Video; v != nil {
		out.VideoCodec, out.Width, out.Height, out.FPS = v.Codec.WCSName(), v.Width, v.Height, v.FPS
		bitrate += v.Bitrate
	}
	if a := snap.Audio; a != nil {
		out.AudioCodec = a.Codec.WCSName()
		bitrate += a.Bitrate
	}
	out.Bitrate = int64(bitrate / 1000) // kbit/s
	if withMetrics {
		out.Metrics = wcsMetrics(snap)
	}
	return out
}

func wcsMetrics(snap hub.Snapshot) map[string]any {
	m := map[string]any{}
	if v := snap.Video; v != nil {
		gop := uint64(0)
		if v.Keyframes > 0 {
			gop = v.Frames / v.Keyframes
		}
		m["VIDEO_WIDTH"], m["VIDEO_HEIGHT"] = v.Width, v.Height
		m["VIDEO_RATE"], m["VIDEO_FPS"] = int64(v.Bitrate), v.FPS
		m["VIDEO_NACK"], m["VIDEO_PLI"] = snap.NACKs, snap.PLIs
		m["VIDEO_CODEC"] = v.Codec.WCSName()
		m["VIDEO_K_FRAMES"], m["VIDEO_P_FRAMES"], m["VIDEO_B_FRAMES"] = v.Keyframes, v.Frames-v.Keyframes, 0
		m["VIDEO_GOP_SIZE"], m["VIDEO_LOST"] = gop, v.Lost
	}
	if a := snap.Audio; a != nil {
		m["AUDIO_RATE"], m["AUDIO_LOST"], m["AUDIO_CODEC"] = int64(a.Bitrate), a.Lost, a.Codec.WCSName()
	}
	return m
}

// handleWCSFind serves stream/find and stream/find_all. In a cluster a search that names no one
// stream (find_all, or find by status) lists the streams of every node.
func (s *Server) handleWCSFind(all bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var f wcsFilter
		if err := decodeJSON(r, &f); err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		if all {
			f = wcsFilter{Display: f.Display}
		}
		withMetrics := slices.Contains(f.Display, "metrics")
		grant := grantOf(r)
		var out []any
		for _, st := range s.deps.Streams.List() {
			if snap := st.Snapshot(); f.matches(snap) && grant.Covers(snap.Name) {
				out = append(out, s.wcsStreamOf(snap, withMetrics))
			}
		}
		if f.Name == "" && f.MediaSessionID == "" {
			remote, err := s.gather(r, body)
			if err != nil {
				writeError(w, r, s.deps.Log, err)
				return
			}
			for _, item := range remote {
				out = append(out, item)
			}
		}
		if len(out) == 0 {
			writeError(w, r, s.deps.Log, &httpError{status: http.StatusNotFound, msg: "no stream matches"})
			return
		}
		writeCompactJSON(w, out)
	}
}

func (s *Server) handleWCSTerminate(w http.ResponseWriter, r *http.Request) {
	var f wcsFilter
	if err := decodeJSON(r, &f); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	var st *hub.Stream
	var err error
	switch {
	case f.MediaSessionID != "":
		st, err = s.deps.Streams.GetByID(f.MediaSessionID)
	case f.Name != "":
		st, err = s.deps.Streams.Get(f.Name)
	default:
		err = &httpError{status: http.StatusBadRequest, msg: "give mediaSessionId or name"}
	}
	if err == nil && !s.allowStream(w, r, auth.Admin, st.Name()) {
		return
	}
	if err == nil {
		err = disconnectAndWait(r, st)
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// writeCompactJSON writes v on one line, as the WCS API does.
func writeCompactJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, fmt.Sprintf(`{"status":500,"message":%q}`, err.Error()), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
