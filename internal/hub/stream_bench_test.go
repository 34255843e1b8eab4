package hub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"

	"github.com/vigilrec/vigil/internal/media"
)

// benchPackets is a loop of realistic video: 1200-byte payloads, three packets a frame at 30 fps,
// a keyframe every 60th frame. The packets are shared read-only, as the hub allows.
func benchPackets() []*media.Packet {
	const (
		perFrame = 3
		frames   = 60 * 20
	)
	payload := make([]byte, 1200)
	out := make([]*media.Packet, 0, frames*perFrame)
	for f := range frames {
		for i := range perFrame {
			out = append(out, &media.Packet{
				RTP: &rtp.Packet{
					Header: rtp.Header{
						Version: 2, PayloadType: 96, SSRC: 0x1234,
						SequenceNumber: uint16(len(out)),
						Timestamp:      uint32(f) * 3000,
						Marker:         i == perFrame-1,
					},
					Payload: payload,
				},
				Kind:          media.KindVideo,
				KeyframeStart: f%60 == 0 && i == 0,
			})
		}
	}
	return out
}

// BenchmarkFanOut measures one publisher writing to ten subscribers, each drained by its own
// goroutine in batches, from the first Write until every subscriber has read the end of the stream.
// delivered-ratio is the share of packets the subscribers got; the rest were dropped because a reader
// fell behind (the publisher never waits).
func BenchmarkFanOut(b *testing.B) {
	const subscribers = 10
	pkts := benchPackets()
	h := New(Config{})
	s, err := h.Create("bench", &fakeSource{})
	if err != nil {
		b.Fatal(err)
	}
	s.SetTracks([]TrackInfo{{Kind: media.KindVideo, Codec: media.VP8, ClockRate: 90000}})

	var (
		wg        sync.WaitGroup
		delivered atomic.Uint64
		readErrs  = make(chan error, subscribers)
	)
	for range subscribers {
		sub, err := s.Subscribe(SubscribeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			buf := make([]*media.Packet, 64)
			for {
				n, err := sub.Read(context.Background(), buf)
				delivered.Add(uint64(n))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					readErrs <- err
					return
				}
			}
		}()
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Write(pkts[i%len(pkts)])
	}
	s.Close()
	wg.Wait()
	b.StopTimer()

	close(readErrs)
	for err := range readErrs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(delivered.Load())/float64(subscribers*b.N), "delivered-ratio")
}
