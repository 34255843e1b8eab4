package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/pull"
)

// fakePulls is a function-field fake of Pulls that keeps started pulls in a map.
type fakePulls struct {
	pulls map[string]pull.Status
	order []string
}

func newFakePulls() *fakePulls { return &fakePulls{pulls: map[string]pull.Status{}} }

func (f *fakePulls) Start(_ context.Context, specs []pull.Spec) ([]pull.Status, error) {
	for _, sp := range specs {
		if _, ok := f.pulls[sp.Local]; ok {
			return nil, fmt.Errorf("%w: %s", pull.ErrExists, sp.Local)
		}
	}
	out := make([]pull.Status, len(specs))
	for i, sp := range specs {
		st := pull.Status{Spec: sp, State: pull.StatePlaying, Since: time.Unix(100, 0), Created: time.Unix(100, 0),
			Connected: time.Unix(101, 0), Sessions: 1, MediaSessionID: "local-" + sp.Local,
			Resource: sp.Endpoint + "/remote-session-" + sp.Local}
		f.pulls[sp.Local] = st
		f.order = append(f.order, sp.Local)
		out[i] = st
	}
	return out, nil
}

func (f *fakePulls) List() []pull.Status {
	var out []pull.Status
	for _, n := range f.order {
		if st, ok := f.pulls[n]; ok {
			out = append(out, st)
		}
	}
	return out
}

func (f *fakePulls) Get(local string) (pull.Status, error) {
	st, ok := f.pulls[local]
	if !ok {
		return pull.Status{}, fmt.Errorf("%w: %s", pull.ErrNotFound, local)
	}
	return st, nil
}

func (f *fakePulls) Stop(_ context.Context, local string) (pull.Status, error) {
	st, err := f.Get(local)
	if err != nil {
		return st, err
	}
	delete(f.pulls, local)
	st.State = pull.StateStopped
	return st, nil
}

func servePull(t *testing.T, s *Server, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(rec, req)
	return rec
}

func TestNativePullAPI(t *testing.T) {
	f := newFakePulls()
	s := New(Deps{Pulls: f, Log: slog.New(slog.DiscardHandler)})
	rec := servePull(t, s, http.MethodPost, "/api/v1/pulls",
		`{"source":"http://a:8081","remote":"cam1","local":"Stream-","qty":100}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var created struct{ Pulls []map[string]any }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &created))
	require.Len(t, created.Pulls, 100)
	require.Equal(t, "Stream-100", created.Pulls[99]["local"])
	require.Equal(t, "http://a:8081/whep/cam1", created.Pulls[0]["endpoint"])
	require.Equal(t, "playing", created.Pulls[0]["state"])
	require.Equal(t, "local-Stream-1", created.Pulls[0]["mediaSessionId"])
	require.NotContains(t, created.Pulls[0], "lastError", "empty fields are left out")

	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"name in use", `{"source":"http://a:8081","remote":"cam1","local":"Stream-","qty":3}`, http.StatusConflict},
		{"no remote with a base URL", `{"source":"http://a:8081","local":"x"}`, http.StatusBadRequest},
		{"websocket URI", `{"source":"wss://a:8443","remote":"cam1"}`, http.StatusBadRequest},
		{"qty too large", `{"source":"http://a:8081","remote":"cam1","qty":1001}`, http.StatusBadRequest},
		{"bad local name", `{"source":"http://a:8081","remote":"cam1","local":"../x"}`, http.StatusBadRequest},
		{"bad JSON", `{"source":`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := servePull(t, s, http.MethodPost, "/api/v1/pulls", tc.body)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			var e errorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
			require.Equal(t, tc.status, e.Status)
			require.NotEmpty(t, e.Message)
		})
	}

	rec = servePull(t, s, http.MethodGet, "/api/v1/pulls", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var list struct{ Pulls []map[string]any }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list.Pulls, 100)
	rec = servePull(t, s, http.MethodGet, "/api/v1/pulls/Stream-7", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"local":"Stream-7"`)
	rec = servePull(t, s, http.MethodDelete, "/api/v1/pulls/Stream-7", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"state":"stopped"`)
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		rec = servePull(t, s, method, "/api/v1/pulls/Stream-7", "")
		require.Equal(t, http.StatusNotFound, rec.Code, method)
	}
}

func TestWCSPullAPI(t *testing.T) {
	f := newFakePulls()
	s := New(Deps{Pulls: f, Log: slog.New(slog.DiscardHandler)})
	rec := servePull(t, s, http.MethodGet, "/rest-api/pull/find_all", "")
	require.Equal(t, http.StatusNotFound, rec.Code, "no pulls yet")

	rec = servePull(t, s, http.MethodPost, "/rest-api/pull/pull",
		`{"uri":"http://a:8081","localStreamName":"copy","remoteStreamName":"cam1"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = servePull(t, s, http.MethodPost, "/rest-api/pull/pull", `{"uri":"http://a:8081","remoteStreamName":"cam1"}`)
	require.Equal(t, http.StatusOK, rec.Code, "the local name defaults to the remote one")
	rec = servePull(t, s, http.MethodPost, "/rest-api/pull/pull",
		`{"uri":"http://b:8081","localStreamName":"copy","remoteStreamName":"cam2"}`)
	require.Equal(t, http.StatusConflict, rec.Code)

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec = servePull(t, s, method, "/rest-api/pull/find_all", "")
		require.Equal(t, http.StatusOK, rec.Code)
		body := rec.Body.String()
		require.Equal(t, 1, strings.Count(body, "\n"), "compact JSON on one line")
		require.True(t, strings.HasPrefix(body, `[{"localMediaSessionId":"local-copy","remoteMediaSessionId":"remote-session-copy",`+
			`"localStreamName":"copy","remoteStreamName":"cam1","uri":"http://a:8081","status":"PLAYING"}`), body)
	}

	rec = servePull(t, s, http.MethodPost, "/rest-api/pull/terminate", `{"uri":"http://other:8081","localStreamName":"copy"}`)
	require.Equal(t, http.StatusNotFound, rec.Code, "the uri must match when given")
	rec = servePull(t, s, http.MethodPost, "/rest-api/pull/terminate", `{}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	rec = servePull(t, s, http.MethodPost, "/rest-api/pull/terminate",
		`{"uri":"http://a:8081","localStreamName":"copy","remoteStreamName":"cam1"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = servePull(t, s, http.MethodPost, "/rest-api/pull/terminate", `{"localStreamName":"copy"}`)
	require.Equal(t, http.StatusNotFound, rec.Code)
}

func TestPullStatusWords(t *testing.T) {
	for st, want := range map[pull.State]string{pull.StateConnecting: "PENDING", pull.StatePlaying: "PLAYING",
		pull.StateRetrying: "FAILED", pull.StateStopped: "STOPPED"} {
		require.Equal(t, want, wcsPullStatus(st))
	}
	s := New(Deps{Log: slog.New(slog.DiscardHandler)})
	rec := servePull(t, s, http.MethodGet, "/api/v1/pulls", "")
	require.Equal(t, http.StatusNotFound, rec.Code, "a server built without pulls")
}
