package publish

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/whip"
)

// whipServer is a minimal WHIP endpoint over loopback: it answers one offer with a pion peer
// connection that reads what it receives, RTCP too (so that it sends receiver reports that answer
// the publisher's sender reports), and answers DELETE on the resource with deleteStatus.
type whipServer struct {
	*httptest.Server
	deleteStatus int
	deletes      atomic.Int32

	mu sync.Mutex
	pc *webrtc.PeerConnection
}

func newWHIPServer(t *testing.T, deleteStatus int) *whipServer {
	t.Helper()
	api, err := rtc.NewClientAPI(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	w := &whipServer{deleteStatus: deleteStatus}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whip", func(rw http.ResponseWriter, r *http.Request) {
		offer, _ := io.ReadAll(r.Body)
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
			go func() { // the sender reports, which the receiver reports answer
				for {
					if _, _, err := rcv.ReadRTCP(); err != nil {
						return
					}
				}
			}()
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		})
		gathered := webrtc.GatheringCompletePromise(pc)
		err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)})
		var answer webrtc.SessionDescription
		if err == nil {
			answer, err = pc.CreateAnswer(nil)
		}
		if err == nil {
			err = pc.SetLocalDescription(answer)
		}
		if err != nil {
			_ = pc.Close()
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		<-gathered
		w.mu.Lock()
		w.pc = pc
		w.mu.Unlock()
		rw.Header().Set("Location", "/whip/session")
		rw.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(rw, pc.LocalDescription().SDP)
	})
	mux.HandleFunc("DELETE /whip/session", func(rw http.ResponseWriter, _ *http.Request) {
		w.deletes.Add(1)
		rw.WriteHeader(w.deleteStatus)
	})
	w.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		w.Close()
		w.closePeer()
	})
	return w
}

// closePeer ends the session from the server's side.
func (w *whipServer) closePeer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pc != nil {
		_ = w.pc.Close()
	}
}

func startTo(t *testing.T, w *whipServer) *Session {
	t.Helper()
	video, err := BuiltinVideo(media.H264, "240p")
	require.NoError(t, err)
	audio, err := BuiltinAudio()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{Endpoint: w.URL + "/whip", Video: video, Audio: audio,
		Client: &whip.Client{HTTP: w.Client()}, Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return s
}

func closeSession(t *testing.T, s *Session) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Close(ctx)
}

func TestSessionCountsAndEndsWhenTheServerCloses(t *testing.T) {
	w := newWHIPServer(t, http.StatusOK)
	s := startTo(t, w)
	require.Eventually(t, func() bool {
		st := s.Stats()
		// The frames' bytes travel in packets that add at least a 12-byte header each.
		return st.Connected && st.Packets > 0 && st.Bytes > st.Packets*12 && st.RTT > 0 &&
			st.MediaBytes > 0 && st.MediaBytes < st.Bytes
	}, 15*time.Second, 20*time.Millisecond, "packets and frames sent and a round trip from the receiver reports")
	require.NoError(t, s.Err())

	w.closePeer()
	select {
	case <-s.Failed():
	case <-time.After(15 * time.Second):
		t.Fatal("the session did not notice the server closing it")
	}
	require.ErrorIs(t, s.Err(), ErrEndedByServer)
	require.EqualError(t, s.Err(), "session ended by the server (connection closed)")
	require.False(t, s.Stats().Connected)
	require.NoError(t, closeSession(t, s))
	require.Zero(t, w.deletes.Load(), "nothing is left to delete on a server that closed the session")
}

func TestSessionCloseFindsTheResourceGone(t *testing.T) {
	w := newWHIPServer(t, http.StatusNotFound)
	s := startTo(t, w)
	err := closeSession(t, s)
	require.ErrorIs(t, err, ErrEndedByServer)
	var st *whip.StatusError
	require.True(t, errors.As(err, &st), "the server's answer stays reachable: %v", err)
	require.Equal(t, http.StatusNotFound, st.Code)
	require.EqualValues(t, 1, w.deletes.Load())
	require.NoError(t, s.Err(), "Close ended the connection, not the server")
}

func TestSessionCloseIsClean(t *testing.T) {
	w := newWHIPServer(t, http.StatusOK)
	s := startTo(t, w)
	require.NoError(t, closeSession(t, s))
	require.NoError(t, s.Err())
	require.EqualValues(t, 1, w.deletes.Load())
}
