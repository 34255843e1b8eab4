package api

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/recorder"
)

// wcsRecordRequest is the body of stream/startRecording and recorder/startup.
type wcsRecordRequest struct {
	MediaSessionID string `json:"mediaSessionId"`
	Name           string `json:"name"`
	FileName       string `json:"fileName"`
	Config         struct {
		FileTemplate string `json:"fileTemplate"`
		Rotation     any    `json:"rotation"` // "20", "10M" or a number of seconds
	} `json:"config"`
}

func (s *Server) wcsRecordingRoutes() {
	record := perStream(auth.Record)
	s.handle("POST /rest-api/stream/startRecording", record, s.onStreamNode(byBody, s.handleWCSStartRecording(false)))
	s.handle("POST /rest-api/recorder/startup", record, s.onStreamNode(byBody, s.handleWCSStartRecording(true)))
	s.handle("POST /rest-api/stream/stopRecording", record, s.onStreamNode(byBody, s.handleWCSStopRecording))
	s.handle("POST /rest-api/recorder/terminate", record, s.onStreamNode(byBody, s.handleWCSStopRecording))
	s.handle("POST /rest-api/recorder/find_all", record, s.handleWCSRecorderFindAll)
	s.handle("GET /rest-api/recorder/find_all", record, s.handleWCSRecorderFindAll)
}

// wcsStream finds the stream a WCS body names, by mediaSessionId or else by name.
func (s *Server) wcsStream(id, name string) (*hub.Stream, error) {
	switch {
	case id != "":
		return s.deps.Streams.GetByID(id)
	case name != "":
		return s.deps.Streams.Get(name)
	}
	return nil, &httpError{status: http.StatusBadRequest, msg: "give mediaSessionId"}
}

func rotationText(v any) string {
	switch r := v.(type) {
	case string:
		return r
	case float64:
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return ""
}

// handleWCSStartRecording starts recording a stream; restart (recorder/startup) first stops a
// running recording so the new settings apply.
func (s *Server) handleWCSStartRecording(restart bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req wcsRecordRequest
		err := decodeJSON(r, &req)
		var st *hub.Stream
		if err == nil {
			st, err = s.wcsStream(req.MediaSessionID, req.Name)
		}
		var opts recorder.Options
		if err == nil {
			template := req.Config.FileTemplate
			if req.FileName != "" {
				template = strings.TrimSuffix(req.FileName, filepath.Ext(req.FileName))
			}
			opts, err = s.recordingOptions(st.Name(), "", rotationText(req.Config.Rotation), template)
		}
		if err == nil && !s.allowStream(w, r, auth.Record, st.Name()) {
			return
		}
		if err == nil && restart && s.deps.Recorder.Recording(st.Name()) {
			_, err = s.deps.Recorder.StopStream(r.Context(), st.Name())
		}
		if err == nil {
			_, err = s.deps.Recorder.Start(st.Name(), opts)
		}
		if err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Server) handleWCSStopRecording(w http.ResponseWriter, r *http.Request) {
	var req wcsRecordRequest
	err := decodeJSON(r, &req)
	var st *hub.Stream
	if err == nil {
		st, err = s.wcsStream(req.MediaSessionID, req.Name)
	}
	if err == nil && !s.allowStream(w, r, auth.Record, st.Name()) {
		return
	}
	if err == nil {
		_, err = s.deps.Recorder.StopStream(r.Context(), st.Name())
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// wcsRecorder is an entry of recorder/find_all.
type wcsRecorder struct {
	FileName       string `json:"fileName"`
	MediaSessionID string `json:"mediaSessionId"`
}

func (s *Server) handleWCSRecorderFindAll(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	var out []any
	grant := grantOf(r)
	for _, st := range s.deps.Recorder.Active() {
		if st.State != recorder.StateRecording || !grant.Covers(st.Stream) {
			continue
		}
		out = append(out, wcsRecorder{FileName: strings.TrimSuffix(filepath.Base(st.CurrentFile), ".part"),
			MediaSessionID: st.MediaSessionID})
	}
	remote, err := s.gather(r, body) // in a cluster: every node's recordings
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	for _, item := range remote {
		out = append(out, item)
	}
	if len(out) == 0 {
		writeError(w, r, s.deps.Log, &httpError{status: http.StatusNotFound, msg: "no recording"})
		return
	}
	writeCompactJSON(w, out)
}
