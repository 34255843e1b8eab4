package recorder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

type dirSink struct{ dir string }

func (s dirSink) Create(name string) (File, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

type noEvents struct{}

func (noEvents) SegmentOpened(SegmentInfo) {}
func (noEvents) SegmentClosed(SegmentInfo) {}

type quietSource struct{}

func (quietSource) RequestKeyframe() {}
func (quietSource) Disconnect()      {}

// BenchmarkStopRecordings measures stopping 50 recordings at once, each holding about two
// seconds of 1080p H.264 in its open segment: the time until every stop call has returned with
// its file final.
func BenchmarkStopRecordings(b *testing.B) {
	const n = 50
	clip := packetizeClip(b, media.H264, "1080p-h264.h264")
	h := hub.New(hub.Config{QueuePackets: 8192})
	streams := make([]*hub.Stream, n)
	for i := range streams {
		st, err := h.Create(fmt.Sprintf("bench-%02d", i), quietSource{})
		if err != nil {
			b.Fatal(err)
		}
		st.SetTracks([]hub.TrackInfo{clip.info})
		streams[i] = st
		defer st.Close()
	}
	b.ReportAllocs()
	var total time.Duration
	for it := 0; it < b.N; it++ {
		m := NewManager(Config{Formats: Formats{}, FragmentDuration: time.Second}, h, dirSink{b.TempDir()}, noEvents{},
			discardLogger())
		ids := make([]string, n)
		for i, st := range streams {
			status, err := m.Start(st.Name(), Options{Formats: Formats{}})
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = status.ID
			// The recording subscribes from its goroutine.
			testutil.WaitFor(b, "the recording to subscribe", 10*time.Second, func() bool { return st.Snapshot().Subscribers > 0 })
		}
		// Two seconds of media (one GOP) into every stream, then wait until each recording has
		// written a fragment, so its segment is open and holding media.
		now := time.Now()
		for _, st := range streams {
			for k, p := range clip.packets[:len(clip.packets)*2/4] {
				cp := *p
				cp.Header = p.Header.Clone()
				st.Write(&media.Packet{RTP: &rtp.Packet{Header: cp.Header, Payload: p.Payload}, Kind: media.KindVideo,
					KeyframeStart: media.IsKeyframeStart(media.H264, p.Payload),
					Arrival:       now.Add(time.Duration(clip.ticks[k]) * time.Second / 90000)})
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for _, id := range ids {
			for {
				s, _ := m.Get(id)
				if s.Bytes > 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("recording %s wrote nothing", id)
				}
				time.Sleep(time.Millisecond)
			}
		}
		start := time.Now()
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.Stop(context.Background(), id); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/50-stops")
}
