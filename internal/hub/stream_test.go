package hub

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

func TestSubscriberReceivesPacketsInOrder(t *testing.T) {
	h, _ := newTestHub(t, Config{QueuePackets: 64})
	s, src := newVideoStream(t, h)
	defer s.Close()
	sub, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()
	require.Same(t, s, sub.Stream())

	var want []uint16
	for i := range uint16(50) {
		if i%5 == 4 {
			s.Write(audioPacket(i))
		} else {
			s.Write(videoPacket(i, i == 0))
		}
		want = append(want, i)
	}
	require.Equal(t, 50, sub.Queued())
	require.Equal(t, want, seqs(readAll(t, sub, len(want))))
	require.Zero(t, sub.Queued())
	require.Zero(t, sub.Dropped())
	require.Zero(t, src.keyframes.Load(), "a plain subscriber asks for no keyframe")
}

func TestStartAtKeyframe(t *testing.T) {
	h, _ := newTestHub(t, Config{QueuePackets: 64})
	s, src := newVideoStream(t, h)
	defer s.Close()
	sub, err := s.Subscribe(SubscribeOptions{StartAtKeyframe: true})
	require.NoError(t, err)
	defer sub.Close()
	require.EqualValues(t, 1, src.keyframes.Load(), "subscribing asks the publisher for a keyframe")

	s.Write(videoPacket(1, false)) // skipped: no keyframe yet
	s.Write(audioPacket(2))        // audio is never held back
	s.Write(videoPacket(3, false)) // skipped
	s.Write(videoPacket(4, true))  // decoding starts here
	s.Write(videoPacket(5, false))
	s.Write(audioPacket(6))
	s.Write(videoPacket(7, true))

	got := readAll(t, sub, 5)
	require.Equal(t, []uint16{2, 4, 5, 6, 7}, seqs(got))
	require.True(t, got[1].KeyframeStart)
	require.Zero(t, sub.Queued())
	require.Zero(t, sub.Dropped(), "skipping up to the first keyframe is not a drop")
}

// A subscriber that never reads must neither slow the publisher nor cost any other subscriber a
// packet. It loses packets, asks for a keyframe, and resumes at one once it reads again.
func TestStalledSubscriber(t *testing.T) {
	const (
		queue    = 16
		total    = 50 * queue
		keyEvery = 60
	)
	h, clk := newTestHub(t, Config{QueuePackets: queue, KeyframeInterval: time.Second})
	s, src := newVideoStream(t, h)
	defer s.Close()
	stalled, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer stalled.Close()
	stalled2, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer stalled2.Close()
	healthy, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer healthy.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The healthy subscriber reads concurrently and reports how many packets it has taken.
	progress := make(chan int, total)
	readDone := make(chan []uint16, 1)
	readErr := make(chan error, 1)
	go func() {
		var got []uint16
		buf := make([]*media.Packet, 5)
		for len(got) < total {
			n, err := healthy.Read(ctx, buf)
			if err != nil {
				readErr <- err
				return
			}
			got = append(got, seqs(buf[:n])...)
			progress <- len(got)
		}
		readDone <- got
	}()

	// The publisher writes in bursts of one queue length and, between bursts, waits for the
	// healthy reader only, so that the test (not the hub) guarantees the healthy queue never
	// overflows. A Write blocked on a stalled subscriber would keep this goroutine from finishing.
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		taken := 0
		for seq := 0; seq < total; {
			for range queue {
				s.Write(videoPacket(uint16(seq), seq%keyEvery == 0))
				seq++
			}
			for taken < seq {
				select {
				case taken = <-progress:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	var got []uint16
	select {
	case <-writeDone:
	case <-ctx.Done():
		require.FailNow(t, "the publisher's Writes did not finish")
	}
	select {
	case got = <-readDone:
	case err := <-readErr:
		require.FailNow(t, "healthy subscriber failed", err)
	case <-ctx.Done():
		require.FailNow(t, "the healthy subscriber did not receive every packet")
	}
	require.NoError(t, ctx.Err())

	want := make([]uint16, total)
	for i := range want {
		want[i] = uint16(i)
	}
	require.Equal(t, want, got, "the healthy subscriber gets every packet, in order")
	require.Zero(t, healthy.Dropped())

	require.Positive(t, stalled.Dropped())
	require.Positive(t, stalled2.Dropped())
	require.Equal(t, queue, stalled.Queued())
	// Both stalled subscribers overflowed at the same instant: one keyframe request reached the
	// publisher, the other was inside the keyframe interval.
	require.EqualValues(t, 1, src.keyframes.Load())

	snap := s.Snapshot()
	require.Equal(t, 3, snap.Subscribers)
	require.Equal(t, stalled.Dropped()+stalled2.Dropped(), snap.SubscriberDrops)

	// The stalled subscriber reads again: first what it had queued before the overflow...
	require.Equal(t, want[:queue], seqs(readAll(t, stalled, queue)))
	// ...then, of what follows, no video until a keyframe starts. Audio is not held back.
	s.Write(videoPacket(total, false))
	s.Write(audioPacket(total + 1))
	s.Write(videoPacket(total+2, false))
	s.Write(videoPacket(total+3, true))
	s.Write(videoPacket(total+4, false))
	resumed := readAll(t, stalled, 3)
	require.Equal(t, []uint16{total + 1, total + 3, total + 4}, seqs(resumed))
	require.True(t, resumed[1].KeyframeStart)

	// Once the keyframe interval has passed, a new overflow asks again.
	require.Equal(t, []uint16{total, total + 1, total + 2, total + 3, total + 4}, seqs(readAll(t, healthy, 5)))
	clk.advance(time.Second)
	for i := range uint16(queue + 1) {
		s.Write(videoPacket(total+5+i, false))
	}
	require.EqualValues(t, 2, src.keyframes.Load())
}

func TestRequestKeyframeRateLimit(t *testing.T) {
	const interval = 500 * time.Millisecond
	h, clk := newTestHub(t, Config{KeyframeInterval: interval})
	s, src := newVideoStream(t, h)
	defer s.Close()

	for _, tc := range []struct {
		name    string
		advance time.Duration
		calls   int
		want    int64
	}{
		{"first request passes", 0, 1, 1},
		{"repeats at the same instant are merged", 0, 10, 1},
		{"just inside the interval", interval - time.Nanosecond, 3, 1},
		{"one interval after the first", time.Nanosecond, 3, 2},
		{"long after", 10 * interval, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.advance(tc.advance)
			for range tc.calls {
				s.RequestKeyframe()
			}
			require.Equal(t, tc.want, src.keyframes.Load())
		})
	}
}

// A subscriber that joins just after another's keyframe request (merged into it by the rate
// limit) and just after that keyframe, keeps asking while it waits: a browser publisher sends
// keyframes only when asked.
func TestWaitingSubscriberAsksAgain(t *testing.T) {
	const interval = 500 * time.Millisecond
	h, clk := newTestHub(t, Config{KeyframeInterval: interval})
	s, src := newVideoStream(t, h)
	defer s.Close()
	first, err := s.Subscribe(SubscribeOptions{StartAtKeyframe: true})
	require.NoError(t, err)
	defer first.Close()
	require.EqualValues(t, 1, src.keyframes.Load())
	s.Write(videoPacket(1, true)) // the answer to the first request
	late, err := s.Subscribe(SubscribeOptions{StartAtKeyframe: true})
	require.NoError(t, err)
	defer late.Close()
	require.EqualValues(t, 1, src.keyframes.Load(), "merged into the first request")
	seq := uint16(2)
	for range 10 { // 200 ms of video without a keyframe: within the interval, no new request
		clk.advance(20 * time.Millisecond)
		s.Write(videoPacket(seq, false))
		seq++
	}
	require.EqualValues(t, 1, src.keyframes.Load())
	clk.advance(interval)
	s.Write(videoPacket(seq, false))
	require.EqualValues(t, 2, src.keyframes.Load(), "the waiting subscriber asked again")
	clk.advance(interval)
	s.Write(videoPacket(seq+1, true))
	clk.advance(interval)
	s.Write(videoPacket(seq+2, false))
	require.EqualValues(t, 2, src.keyframes.Load(), "no more once it has its keyframe")
}

func TestStreamCloseDrainsThenErrClosed(t *testing.T) {
	h, _ := newTestHub(t, Config{QueuePackets: 64})
	s, _ := newVideoStream(t, h)
	sub, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()

	for i := range uint16(3) {
		s.Write(videoPacket(i, i == 0))
	}
	s.Close()
	s.Write(videoPacket(3, false)) // after Close: delivered to nobody

	ctx := context.Background()
	buf := make([]*media.Packet, 2)
	n, err := sub.Read(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, []uint16{0, 1}, seqs(buf[:n]))
	n, err = sub.Read(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, []uint16{2}, seqs(buf[:n]))
	_, err = sub.Read(ctx, buf)
	require.ErrorIs(t, err, ErrClosed)
	_, err = sub.Read(ctx, buf)
	require.ErrorIs(t, err, ErrClosed, "ErrClosed is sticky")

	_, err = s.Subscribe(SubscribeOptions{})
	require.ErrorIs(t, err, ErrClosed)
	require.Zero(t, s.Snapshot().Subscribers)
}

func TestCloseWakesBlockedReader(t *testing.T) {
	h, _ := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	sub, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	readErr := make(chan error, 1)
	go func() {
		_, err := sub.Read(ctx, make([]*media.Packet, 1))
		readErr <- err
	}()
	s.Close()
	select {
	case err := <-readErr:
		require.ErrorIs(t, err, ErrClosed)
	case <-ctx.Done():
		require.FailNow(t, "Close did not wake the blocked reader")
	}
}

func TestReadHonoursContext(t *testing.T) {
	h, _ := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	defer s.Close()
	sub, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = sub.Read(ctx, make([]*media.Packet, 1))
	require.ErrorIs(t, err, context.Canceled)
}

func TestSubscriberCloseUnsubscribes(t *testing.T) {
	h, _ := newTestHub(t, Config{QueuePackets: 64})
	s, _ := newVideoStream(t, h)
	defer s.Close()
	leaving, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	staying, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer staying.Close()
	require.Equal(t, 2, s.Snapshot().Subscribers)

	s.Write(videoPacket(1, true))
	leaving.Close()
	leaving.Close() // idempotent
	require.Equal(t, 1, s.Snapshot().Subscribers)
	s.Write(videoPacket(2, false))

	// What was queued before Close is still readable, then the subscriber is closed.
	require.Equal(t, []uint16{1}, seqs(readAll(t, leaving, 1)))
	_, err = leaving.Read(context.Background(), make([]*media.Packet, 4))
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, []uint16{1, 2}, seqs(readAll(t, staying, 2)))

	select {
	case <-s.Done():
		require.FailNow(t, "a subscriber leaving must not end the stream")
	default:
	}
}

func TestTracks(t *testing.T) {
	h, _ := newTestHub(t, Config{})
	s, _ := newVideoStream(t, h)
	defer s.Close()
	tracks := s.Tracks()
	require.Len(t, tracks, 2)
	tracks[0].Codec = media.AV1 // a copy: the stream is unaffected
	require.Equal(t, media.VP8, s.Tracks()[0].Codec)

	s.SetTrack(0, TrackInfo{Kind: media.KindVideo, Codec: media.H264, ClockRate: 90000})
	s.SetTrack(5, TrackInfo{Kind: media.KindVideo, Codec: media.VP9}) // out of range: ignored
	s.SetTrack(-1, TrackInfo{Kind: media.KindVideo, Codec: media.VP9})
	require.Equal(t, media.H264, s.Tracks()[0].Codec)
	require.Len(t, s.Tracks(), 2)
	require.Equal(t, media.H264, s.Snapshot().Video.Codec)

	// A packet for an undeclared track is forwarded but not counted.
	sub, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()
	p := videoPacket(1, true)
	p.Track = 7
	s.Write(p)
	require.Same(t, p, readAll(t, sub, 1)[0])
	require.Zero(t, s.Snapshot().Video.Packets)
}

// A lingering subscriber gets everything queued during its linger period in one Read, never
// waits while its last Read filled dst, and is never held past ctx (but still gets what is
// queued then).
func TestLingerBatchesReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := newTestHub(t, Config{QueuePackets: 64})
		s, _ := newVideoStream(t, h)
		defer s.Close()
		sub, err := s.Subscribe(SubscribeOptions{Linger: 50 * time.Millisecond})
		require.NoError(t, err)
		defer sub.Close()
		ctx := context.Background()
		dst := make([]*media.Packet, 8)

		s.Write(audioPacket(1))
		n, err := sub.Read(ctx, dst)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the first read does not wait")
		start := time.Now()
		for i := range uint16(5) {
			time.Sleep(5 * time.Millisecond)
			s.Write(audioPacket(2 + i))
		}
		n, err = sub.Read(ctx, dst)
		require.NoError(t, err)
		require.Equal(t, 5, n, "one read takes all five")
		require.Equal(t, 50*time.Millisecond, time.Since(start), "after one linger period")

		for i := range uint16(12) {
			s.Write(audioPacket(10 + i))
		}
		time.Sleep(time.Second)
		n, err = sub.Read(ctx, dst)
		require.NoError(t, err)
		require.Equal(t, 8, n)
		start = time.Now()
		n, err = sub.Read(ctx, dst)
		require.NoError(t, err)
		require.Equal(t, 4, n)
		require.Zero(t, time.Since(start), "dst was filled: the rest comes without waiting")

		s.Write(audioPacket(30))
		cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		n, err = sub.Read(cctx, dst)
		require.NoError(t, err)
		require.Equal(t, 1, n, "what is queued when ctx ends is still handed out")
		require.Equal(t, 10*time.Millisecond, time.Since(start), "at once")
		_, err = sub.Read(cctx, dst)
		require.ErrorIs(t, err, context.DeadlineExceeded)

		// Waits end on multiples of the linger period, whenever the last Read returned.
		time.Sleep(time.Second + 17*time.Millisecond)
		s.Write(audioPacket(40))
		n, err = sub.Read(ctx, dst)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		s.Write(audioPacket(41))
		start = time.Now()
		past := time.Duration(start.UnixNano() % int64(50*time.Millisecond))
		require.NotZero(t, past, "the last Read returned between two multiples")
		n, err = sub.Read(ctx, dst)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, 50*time.Millisecond-past, time.Since(start), "up to the next multiple of 50 ms")
	})
}

// The group-of-pictures cache pre-rolls a starting recording, then is not kept while that
// recording reads (its memory is the largest cost of many recorded streams), and is rebuilt
// from the next keyframe once no pre-rolled subscriber is left.
func TestGOPCacheKeptOnlyWithoutPrerolledSubscriber(t *testing.T) {
	h, _ := newTestHub(t, Config{QueuePackets: 64})
	s, _ := newVideoStream(t, h)
	defer s.Close()
	s.Write(videoPacket(1, true))
	s.Write(videoPacket(2, false))

	first, err := s.Subscribe(SubscribeOptions{FromLastKeyframe: true})
	require.NoError(t, err)
	require.Equal(t, []uint16{1, 2}, seqs(readAll(t, first, 2)), "pre-rolled from the cache")
	s.Write(videoPacket(3, true))
	s.Write(videoPacket(4, false))
	require.Equal(t, []uint16{3, 4}, seqs(readAll(t, first, 2)))

	second, err := s.Subscribe(SubscribeOptions{FromLastKeyframe: true})
	require.NoError(t, err)
	require.Zero(t, second.Queued(), "no cache while a pre-rolled subscriber reads: wait for a keyframe")
	s.Write(videoPacket(5, false))
	s.Write(videoPacket(6, true))
	require.Equal(t, []uint16{6}, seqs(readAll(t, second, 1)))
	first.Close()
	second.Close()

	s.Write(videoPacket(7, false)) // not cached: the cache starts at a keyframe
	s.Write(videoPacket(8, true))
	s.Write(videoPacket(9, false))
	third, err := s.Subscribe(SubscribeOptions{FromLastKeyframe: true})
	require.NoError(t, err)
	defer third.Close()
	require.Equal(t, []uint16{8, 9}, seqs(readAll(t, third, 2)), "cache rebuilt once they left")
}
