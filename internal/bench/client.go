package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// ErrStatus is an unexpected HTTP status from a node.
var ErrStatus = errors.New("unexpected HTTP status")

// errNotFound marks a 404 among the ErrStatus errors.
var errNotFound = errors.New("not found")

func statusError(code int) error {
	if code == http.StatusNotFound {
		return fmt.Errorf("%w %d: %w", ErrStatus, code, errNotFound)
	}
	return fmt.Errorf("%w %d", ErrStatus, code)
}

// scriptMediaSessionID finds the id the way the brief's script does, with
// `grep -P -o '(?<="mediaSessionId":").*(?=","name")'`: what lies between `"mediaSessionId":"`
// and the next `","name"`. bench relies on the same contract, which keeps it tested.
func scriptMediaSessionID(body []byte) (string, bool) {
	const before, after = `"mediaSessionId":"`, `","name"`
	i := bytes.Index(body, []byte(before))
	if i < 0 {
		return "", false
	}
	rest := body[i+len(before):]
	j := bytes.Index(rest, []byte(after))
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// nodeAPI speaks to one vigil node (or a Web Call Server) over HTTP: the WCS-compatible
// /rest-api calls the brief's scripts use, and the native recordings list.
type nodeAPI struct {
	base string
	http *http.Client
}

// post sends a JSON body and returns the status and the answer's body.
func (n nodeAPI) post(ctx context.Context, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, fmt.Errorf("post %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("post %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("post %s: %w", path, err)
	}
	return resp.StatusCode, out, nil
}

// call is post that wants a 200.
func (n nodeAPI) call(ctx context.Context, path string, body any) ([]byte, error) {
	code, out, err := n.post(ctx, path, body)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("post %s: %w: %s", path, statusError(code), bytes.TrimSpace(out))
	}
	return out, nil
}

// pull asks the node to pull remote from the node at uri as local (/rest-api/pull/pull).
func (n nodeAPI) pull(ctx context.Context, uri, remote, local string) error {
	_, err := n.call(ctx, "/rest-api/pull/pull", map[string]string{
		"uri": uri, "localStreamName": local, "remoteStreamName": remote})
	return err
}

// find is the brief's `stream/find` call: it returns the stream's mediaSessionId once the
// stream is PUBLISHING (media flowing), or "" while it is not (404 or PENDING).
func (n nodeAPI) find(ctx context.Context, name string) (string, error) {
	code, out, err := n.post(ctx, "/rest-api/stream/find", map[string]any{
		"name": name, "published": true, "display": []string{"metrics"}})
	switch {
	case err != nil:
		return "", err
	case code == http.StatusNotFound:
		return "", nil
	case code != http.StatusOK:
		return "", fmt.Errorf("find %s: %w: %s", name, statusError(code), bytes.TrimSpace(out))
	}
	id, ok := scriptMediaSessionID(out)
	if !ok {
		return "", fmt.Errorf("find %s: no \"mediaSessionId\":\"…\",\"name\" in %s", name, out)
	}
	if !bytes.Contains(out, []byte(`"status":"PUBLISHING"`)) {
		return "", nil
	}
	return id, nil
}

// startRecording is the brief's second call; rotation ("" for none) goes into config.
func (n nodeAPI) startRecording(ctx context.Context, mediaSessionID, rotation string) error {
	config := map[string]string{}
	if rotation != "" {
		config["rotation"] = rotation
	}
	_, err := n.call(ctx, "/rest-api/stream/startRecording", map[string]any{
		"mediaSessionId": mediaSessionID, "config": config})
	return err
}

// stopRecording returns once the node says the recording's files are final.
func (n nodeAPI) stopRecording(ctx context.Context, mediaSessionID string) error {
	_, err := n.call(ctx, "/rest-api/stream/stopRecording", map[string]string{"mediaSessionId": mediaSessionID})
	return err
}

// segment is one file of a recording in the node's catalog (GET /api/v1/recordings).
type segment struct {
	ID       string    `json:"id"`
	Stream   string    `json:"stream"`
	Path     string    `json:"path"`
	State    string    `json:"state"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"`
	Bytes    int64     `json:"bytes"`
}

// segments lists the stream's files in the node's catalog, in order.
func (n nodeAPI) segments(ctx context.Context, stream string) ([]segment, error) {
	u := n.base + "/api/v1/recordings?limit=1000&stream=" + url.QueryEscape(stream)
	body, err := get(ctx, n.http, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var list struct{ Recordings []segment }
	if err := json.NewDecoder(body).Decode(&list); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u, err)
	}
	return list.Recordings, nil
}

// download saves segment id to path (for a node whose directory bench cannot read).
func (n nodeAPI) download(ctx context.Context, id, path string) error {
	body, err := get(ctx, n.http, n.base+"/api/v1/recordings/"+id)
	if err != nil {
		return err
	}
	defer body.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("download recording %s: %w", id, err)
	}
	_, err = io.Copy(f, body)
	return errors.Join(err, f.Close())
}

// ready reports whether GET /readyz answers 200.
func (n nodeAPI) ready(ctx context.Context) bool {
	body, err := get(ctx, n.http, n.base+"/readyz")
	if err != nil {
		return false
	}
	body.Close()
	return true
}

// streamPublishing reports whether the node lists stream as publishing (native API).
func (n nodeAPI) streamPublishing(ctx context.Context, stream string) bool {
	body, err := get(ctx, n.http, n.base+"/api/v1/streams/"+url.PathEscape(stream))
	if err != nil {
		return false
	}
	defer body.Close()
	var st struct{ Status string }
	return json.NewDecoder(body).Decode(&st) == nil && st.Status == "publishing"
}

// recording reports whether the node has an active recording of stream (native API).
func (n nodeAPI) recording(ctx context.Context, stream string) bool {
	body, err := get(ctx, n.http, n.base+"/api/v1/streams/"+url.PathEscape(stream)+"/recording")
	if err != nil {
		return false
	}
	body.Close()
	return true
}

// terminatePull ends a pull (/rest-api/pull/terminate).
func (n nodeAPI) terminatePull(ctx context.Context, local string) error {
	_, err := n.call(ctx, "/rest-api/pull/terminate", map[string]string{"localStreamName": local})
	return err
}

// isVigil reports whether base serves vigil's /metrics.
func (n nodeAPI) isVigil(ctx context.Context) bool {
	body, err := get(ctx, n.http, n.base+"/metrics")
	if err != nil {
		return false
	}
	defer body.Close()
	b, _ := io.ReadAll(io.LimitReader(body, 1<<20))
	return bytes.Contains(b, []byte("vigil_streams_in"))
}
