package rtc

import (
	"context"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Feedback intervals, pion's: NACKs and transport-wide congestion control feedback every 100 ms,
// receiver reports every second.
const (
	feedbackInterval = 100 * time.Millisecond
	reportEvery      = 10 // feedback rounds
)

// connFeedback is the RTCP a publisher hears back about what it sends: NACKs for the packets
// missing after a reorder window (nackLog), receiver reports (receptionStats) and transport-wide
// congestion control feedback, which browsers need to raise their bitrate (pion's twcc.Recorder).
//
// pion's interceptors do the same with a goroutine each per connection, waking on their own
// tickers, and its TWCC sender hands every packet to its goroutine through an unbuffered channel:
// a goroutine switch per packet, made by the socket reader on the direct path. Here a packet is
// recorded where it is delivered, under one lock, with one clock reading and no parse beyond the
// header already parsed, and one goroutine per connection sends the feedback on multiples of
// feedbackInterval (wall clock): every connection's feedback is built in the same wake-up of the
// process instead of thousands of wake-ups a second spread out.
type connFeedback struct {
	write      func([]rtcp.Packet) error
	senderSSRC uint32
	start      time.Time // the origin of the TWCC arrival times

	mu      sync.Mutex
	tracks  []*trackFeedback
	twcc    *twcc.Recorder
	ctx     context.Context //nolint:containedctx // the connection's lifetime, for the sender it starts
	running bool
	rounds  int
	missing []uint16
	wg      sync.WaitGroup
}

// trackFeedback is one incoming track's share of connFeedback; its fields are guarded by the
// connFeedback's lock.
type trackFeedback struct {
	ssrc    uint32
	nack    *nackLog // nil when the track's codec takes no NACKs
	stats   receptionStats
	twccExt uint8 // the header extension ID of transport-wide sequence numbers, 0: none
}

func newConnFeedback(ctx context.Context, senderSSRC uint32, write func([]rtcp.Packet) error) *connFeedback {
	return &connFeedback{write: write, senderSSRC: senderSSRC, start: time.Now(),
		twcc: twcc.NewRecorder(senderSSRC), ctx: ctx}
}

// addTrack starts the feedback about a track and returns its share.
func (f *connFeedback) addTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *trackFeedback {
	codec := track.Codec()
	t := &trackFeedback{ssrc: uint32(track.SSRC()), stats: receptionStats{clockRate: float64(codec.ClockRate)}}
	for _, fb := range codec.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			t.nack = &nackLog{}
		}
	}
	for _, h := range recv.GetParameters().HeaderExtensions {
		if h.URI == sdp.TransportCCURI && h.ID > 0 && h.ID < 256 {
			t.twccExt = uint8(h.ID)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracks = append(f.tracks, t)
	if !f.running && f.ctx.Err() == nil {
		f.running = true
		f.wg.Add(1)
		go f.send()
	}
	return t
}

// received records the packet of t whose header is h, arrived now.
func (f *connFeedback) received(t *trackFeedback, h *rtp.Header, now time.Time) {
	var tcc rtp.TransportCCExtension
	hasTCC := false
	if t.twccExt != 0 {
		if ext := h.GetExtension(t.twccExt); ext != nil {
			hasTCC = tcc.Unmarshal(ext) == nil
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if hasTCC {
		f.twcc.Record(t.ssrc, tcc.TransportSequence, now.Sub(f.start).Microseconds())
	}
	if t.nack != nil {
		t.nack.add(h.SequenceNumber)
	}
	t.stats.add(h.SequenceNumber, h.Timestamp, now)
}

// senderReport notes a sender report about ssrc, for the receiver reports' round-trip fields.
func (f *connFeedback) senderReport(sr *rtcp.SenderReport, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tracks {
		if t.ssrc == sr.SSRC {
			t.stats.senderReport(sr.NTPTime, now)
		}
	}
}

// send writes the feedback of each round until the connection's context ends.
func (f *connFeedback) send() {
	defer f.wg.Done()
	timer := time.NewTimer(untilNextMultiple(time.Now(), feedbackInterval))
	defer timer.Stop()
	for {
		var now time.Time
		select {
		case <-f.ctx.Done():
			return
		case now = <-timer.C:
			timer.Reset(untilNextMultiple(now, feedbackInterval))
		}
		if pkts := f.round(now); len(pkts) > 0 {
			// A connection that is closing refuses the write; the loop ends with its context.
			_ = f.write(pkts)
		}
	}
}

// round builds one round's feedback: TWCC, the NACKs due, and every reportEvery rounds the
// receiver reports.
func (f *connFeedback) round(now time.Time) []rtcp.Packet {
	f.mu.Lock()
	defer f.mu.Unlock()
	pkts := f.twcc.BuildFeedbackPacket()
	for _, t := range f.tracks {
		if t.nack == nil {
			continue
		}
		f.missing = t.nack.missing(f.missing[:0], nackReorderWindow, nackMaxPerPacket)
		if len(f.missing) > 0 {
			pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: f.senderSSRC, MediaSSRC: t.ssrc,
				Nacks: rtcp.NackPairsFromSequenceNumbers(f.missing)})
		}
	}
	f.rounds++
	if f.rounds%reportEvery == 0 {
		rr := &rtcp.ReceiverReport{SSRC: f.senderSSRC}
		for _, t := range f.tracks {
			if t.stats.started {
				rr.Reports = append(rr.Reports, t.stats.report(t.ssrc, now))
			}
		}
		if len(rr.Reports) > 0 {
			pkts = append(pkts, rr)
		}
	}
	return pkts
}

// wait returns once the sender has stopped; the connection's context must have ended.
func (f *connFeedback) wait() {
	f.mu.Lock()
	f.mu.Unlock() //nolint:staticcheck // an addTrack that is starting the sender has added it to wg
	f.wg.Wait()
}

// untilNextMultiple is the time from now to the next multiple of period of the wall clock.
func untilNextMultiple(now time.Time, period time.Duration) time.Duration {
	return now.Truncate(period).Add(period).Sub(now)
}
