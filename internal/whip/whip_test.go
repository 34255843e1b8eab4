package whip

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

func TestRedactURL(t *testing.T) {
	require.Equal(t, "http://***@host:8081/whep/cam", RedactURL("http://user:pass@host:8081/whep/cam"))
	require.Equal(t, "https://***@host/x", RedactURL("https://token@host/x"))
	require.Equal(t, "http://host/x", RedactURL("http://host/x"))
}

// An error answer's body reaches the error, unless StatusOnly keeps it out.
func TestStatusOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"private detail"}`))
	}))
	defer srv.Close()
	_, err := (&Client{}).Offer(context.Background(), srv.URL+"/whep/x", "v=0")
	require.ErrorContains(t, err, "private detail")
	_, err = (&Client{StatusOnly: true}).Offer(context.Background(), srv.URL+"/whep/x", "v=0")
	require.ErrorContains(t, err, "server answered 403: Forbidden")
	require.NotContains(t, err.Error(), "private detail")
}

// Offer posts the SDP with its content type and token, resolves a relative Location against
// the endpoint, keeps the ETag, and Delete ends the resource with the same token.
func TestOfferAndDelete(t *testing.T) {
	var deleted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.Method {
		case http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			if r.Header.Get("Content-Type") != "application/sdp" || string(body) != "offer" {
				w.WriteHeader(http.StatusUnsupportedMediaType)
				return
			}
			w.Header().Set("Location", "resource/1")
			w.Header().Set("ETag", `"e1"`)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte("answer"))
		case http.MethodDelete:
			deleted = append(deleted, r.URL.Path)
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	c := &Client{BearerToken: "secret"}
	res, err := c.Offer(context.Background(), srv.URL+"/whip/cam", "offer")
	require.NoError(t, err)
	require.Equal(t, &Resource{URL: srv.URL + "/whip/resource/1", Answer: "answer", ETag: `"e1"`}, res)
	require.NoError(t, c.Delete(context.Background(), res.URL))
	require.Equal(t, []string{"/whip/resource/1"}, deleted)

	_, err = (&Client{}).Offer(context.Background(), srv.URL+"/whip/cam", "offer")
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnauthorized, se.Code)
	require.Error(t, (&Client{}).Delete(context.Background(), res.URL))
}

func TestOfferWithoutLocation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	_, err := (&Client{}).Offer(context.Background(), srv.URL+"/whip/cam", "offer")
	require.ErrorIs(t, err, ErrNoLocation)
}

// Errors name the endpoint without its credentials.
func TestErrorsHideCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	endpoint := strings.Replace(srv.URL, "://", "://user:pass@", 1) + "/whep/cam"
	_, err := (&Client{}).Offer(context.Background(), endpoint, "offer")
	require.ErrorContains(t, err, "***@")
	require.NotContains(t, err.Error(), "pass")
}

// Negotiate sends an offer with its candidates and applies the answer of a real pion peer.
func TestNegotiate(t *testing.T) {
	api := webrtc.NewAPI()
	var answerer *webrtc.PeerConnection
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offer, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(offer), "a=candidate") {
			http.Error(w, "offer without candidates", http.StatusBadRequest)
			return
		}
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		answerer = pc
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ans, err := pc.CreateAnswer(nil)
		if err == nil {
			err = pc.SetLocalDescription(ans)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Location", "/whep/cam/1")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(pc.LocalDescription().SDP))
	}))
	defer srv.Close()

	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	defer pc.Close()
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	require.NoError(t, err)
	res, err := (&Client{}).Negotiate(context.Background(), pc, srv.URL+"/whep/cam")
	require.NoError(t, err)
	require.NotNil(t, answerer)
	defer answerer.Close()
	require.Equal(t, srv.URL+"/whep/cam/1", res.URL)
	require.Equal(t, webrtc.SignalingStateStable, pc.SignalingState(), "the answer was applied")
	require.Equal(t, res.Answer, pc.RemoteDescription().SDP)
}
