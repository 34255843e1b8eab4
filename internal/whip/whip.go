// Package whip speaks the HTTP side of WHIP (RFC 9725) and WHEP as a client: it posts an SDP offer
// to an endpoint and keeps the resource URL that ends the session. The same exchange publishes
// (WHIP) and plays (WHEP), so `vigil publish`, pulls and the tests all use this one client.
package whip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/pion/webrtc/v4"
)

// ErrNoLocation means the server answered 201 without a Location header.
var ErrNoLocation = errors.New("answer has no Location header")

// StatusError is an error answer from the server.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.Code, e.Message)
}

// Client posts offers. The zero value uses http.DefaultClient.
type Client struct {
	HTTP *http.Client
	// BearerToken, when set, is sent as "Authorization: Bearer …".
	BearerToken string
	// StatusOnly keeps the server's answer out of errors: they carry the status code and its
	// standard text. Pulls set it, so a remote's page is never echoed back to whoever asked.
	StatusOnly bool
}

// Resource is a session created on a WHIP or WHEP server.
type Resource struct {
	// URL is the absolute resource URL; DELETE on it ends the session.
	URL    string
	Answer string
	ETag   string
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Offer posts an SDP offer to endpoint and returns the created resource.
func (c *Client) Offer(ctx context.Context, endpoint, offer string) (*Resource, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return nil, fmt.Errorf("build offer request: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	c.authorize(req)
	resp, err := c.offerClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("post offer to %s: %w", RedactURL(endpoint), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer from %s: %w", RedactURL(endpoint), err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("post offer to %s: %w", RedactURL(endpoint), c.statusError(resp.StatusCode, body))
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("post offer to %s: %w", RedactURL(endpoint), ErrNoLocation)
	}
	// After a redirect (a cluster placing the publisher on another node), the Location is
	// relative to where the offer was answered.
	base := resp.Request.URL
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("parse Location %q: %w", loc, err)
	}
	return &Resource{URL: base.ResolveReference(ref).String(), Answer: string(body), ETag: resp.Header.Get("ETag")}, nil
}

// Delete ends the session at resourceURL.
func (c *Client) Delete(ctx context.Context, resourceURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, resourceURL, nil)
	if err != nil {
		return fmt.Errorf("build delete request: %w", err)
	}
	c.authorize(req)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("delete %s: %w", RedactURL(resourceURL), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("delete %s: %w", RedactURL(resourceURL), c.statusError(resp.StatusCode, body))
	}
	return nil
}

// offerClient is the HTTP client offers go through. Unless the caller decides about redirects
// (pulls refuse them), it follows a WHIP server's 307 with the bearer token, which Go's client
// would drop on the way to another host: the token was meant for the endpoint that redirected.
func (c *Client) offerClient() *http.Client {
	hc := c.httpClient()
	if hc.CheckRedirect != nil || c.BearerToken == "" {
		return hc
	}
	follow := *hc
	follow.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		c.authorize(req)
		return nil
	}
	return &follow
}

func (c *Client) authorize(req *http.Request) {
	if c.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.BearerToken)
	}
}

// RedactURL hides the credentials of a URL ("http://user:pass@host/x" → "http://***@host/x"),
// so they reach no error, API answer or log line.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return strings.Replace(u.String(), "://", "://***@", 1)
}

// statusError takes the message from a JSON error body ({"message": …}) when there is one, and
// only the status's standard text with StatusOnly.
func (c *Client) statusError(code int, body []byte) *StatusError {
	if c.StatusOnly {
		return &StatusError{Code: code, Message: http.StatusText(code)}
	}
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &msg) == nil && msg.Message != "" {
		return &StatusError{Code: code, Message: msg.Message}
	}
	return &StatusError{Code: code, Message: strings.TrimSpace(string(bytes.ToValidUTF8(body, nil)))}
}

// Negotiate creates an offer on pc, waits for ICE gathering (so the offer carries its candidates:
// no trickle needed), posts it and applies the answer.
func (c *Client) Negotiate(ctx context.Context, pc *webrtc.PeerConnection, endpoint string) (*Resource, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, fmt.Errorf("gather ICE candidates: %w", ctx.Err())
	}
	res, err := c.Offer(ctx, endpoint, pc.LocalDescription().SDP)
	if err != nil {
		return nil, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.Answer}); err != nil {
		return res, fmt.Errorf("set answer: %w", err)
	}
	return res, nil
}
