package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/cluster"
)

// forwardedHeader marks a request one node passes to another: the receiving node answers it
// from its own state and never passes it on, so no request loops.
const forwardedHeader = "X-Vigil-Forwarded-By"

// streamRef names the stream a request is about: by name or by media session id.
type streamRef struct{ name, session string }

// byPath is the stream named in the path.
func byPath(key string) func(*http.Request, []byte) streamRef {
	return func(r *http.Request, _ []byte) streamRef { return streamRef{name: r.PathValue(key)} }
}

// byBody is the stream a Web Call Server body names (mediaSessionId first, as its handlers do).
func byBody(_ *http.Request, body []byte) streamRef {
	var b struct {
		MediaSessionID string `json:"mediaSessionId"`
		Name           string `json:"name"`
	}
	_ = json.Unmarshal(body, &b) // a body that does not parse is the local handler's to refuse
	if b.MediaSessionID != "" {
		return streamRef{session: b.MediaSessionID}
	}
	return streamRef{name: b.Name}
}

// onStreamNode serves a request about one stream where the stream is: here, or on the node of
// the cluster that holds it, through a reverse proxy. A stream no node holds is answered here
// (with the local handler's 404); while Redis is unreachable, a stream not here is 503.
func (s *Server) onStreamNode(ref func(*http.Request, []byte) streamRef, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := s.deps.Cluster
		if c == nil || r.Header.Get(forwardedHeader) != "" {
			h(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		want := ref(r, body)
		var node cluster.Node
		switch {
		case want.session != "":
			if _, err = s.deps.Streams.GetByID(want.session); err == nil {
				h(w, r)
				return
			}
			node, _, err = c.LocateSession(r.Context(), want.session)
		case want.name != "":
			if _, err = s.deps.Streams.Get(want.name); err == nil {
				h(w, r)
				return
			}
			node, _, err = c.Locate(r.Context(), want.name)
		default:
			h(w, r)
			return
		}
		switch {
		case errors.Is(err, cluster.ErrNotFound), err == nil && node.ID == c.Self().ID:
			h(w, r)
		case err != nil:
			writeError(w, r, s.deps.Log, err)
		default:
			r.Body = io.NopCloser(bytes.NewReader(body))
			s.proxyTo(w, r, node)
		}
	}
}

// proxyTo passes r to node and its answer back.
func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, node cluster.Node) {
	target, err := url.Parse(node.URL)
	if err != nil {
		writeError(w, r, s.deps.Log, fmt.Errorf("node %s: bad URL %q: %w", node.ID, node.URL, err))
		return
	}
	self := s.deps.Cluster.Self().ID
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(forwardedHeader, self)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, s.deps.Log, &httpError{status: http.StatusBadGateway,
				msg: fmt.Sprintf("node %s (%s) holds the stream but did not answer: %v", node.ID, node.URL, err)})
		},
	}
	rp.ServeHTTP(w, r)
}

// gather asks every other live node the same request (marked forwarded, so each answers with
// its own streams only) and returns the elements of the JSON arrays they answer with 200. A node
// that fails is left out and logged: a list of what answers beats no list.
func (s *Server) gather(r *http.Request, body []byte) ([]json.RawMessage, error) {
	c := s.deps.Cluster
	if c == nil || r.Header.Get(forwardedHeader) != "" {
		return nil, nil
	}
	nodes, err := c.Nodes(r.Context())
	if err != nil {
		return nil, err
	}
	self := c.Self().ID
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []json.RawMessage
	for _, n := range nodes {
		if n.ID == self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			items, err := s.askNode(ctx, r, n, body)
			if err != nil {
				s.deps.Log.Warn("cluster: a node did not answer", "node", n.ID, "path", r.URL.Path, "err", err)
				return
			}
			mu.Lock()
			out = append(out, items...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, nil
}

func (s *Server) askNode(ctx context.Context, r *http.Request, n cluster.Node, body []byte) ([]json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, n.URL+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Authorization", "Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(forwardedHeader, s.deps.Cluster.Self().ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil // nothing there
	default:
		return nil, fmt.Errorf("%s", resp.Status)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("answer is not a JSON array: %w", err)
	}
	return items, nil
}
