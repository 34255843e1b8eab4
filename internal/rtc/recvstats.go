package rtc

import (
	"time"

	"github.com/pion/rtcp"
)

// nackLogSize is how many sequence numbers back a missing packet can still be asked for (pion's
// NACK generator's default): about 1.5 s of a 2.5 Mbps stream.
const nackLogSize = 512

// nackLog remembers which of a track's last nackLogSize packets arrived, and how often each
// missing one was asked for: the NACK generator of pion's interceptors, minus its goroutine.
type nackLog struct {
	received        [nackLogSize / 64]uint64
	asked           [nackLogSize]uint8
	started         bool
	end             uint16 // the highest sequence number received
	lastConsecutive uint16 // every packet up to it arrived (or is too old to ask for)
}

func (l *nackLog) add(seq uint16) {
	if !l.started {
		l.started, l.end, l.lastConsecutive = true, seq, seq
		l.set(seq)
		return
	}
	diff := seq - l.end
	switch {
	case diff == 0:
		return
	case diff < 1<<15: // ahead of end, counting with wrap-around
		for i := l.end + 1; i != seq; i++ {
			l.clear(i) // what is there is from nackLogSize packets ago
		}
		l.end = seq
		if l.lastConsecutive+1 == seq {
			l.lastConsecutive = seq
		} else if seq-l.lastConsecutive > nackLogSize {
			l.lastConsecutive = seq - nackLogSize
			l.fixLastConsecutive()
		}
	case l.lastConsecutive+1 == seq: // a late packet that closes the first hole
		l.lastConsecutive = seq
		l.fixLastConsecutive()
	}
	l.set(seq)
}

// missing appends to dst the packets to ask for now: those not received between the last
// consecutive one and the newest less skipLastN (a reorder window), each at most maxAsks times.
func (l *nackLog) missing(dst []uint16, skipLastN uint16, maxAsks uint8) []uint16 {
	until := l.end - skipLastN
	if !l.started || until-l.lastConsecutive >= 1<<15 { // until is behind lastConsecutive
		return dst
	}
	for i := l.lastConsecutive + 1; i != until+1; i++ {
		if l.has(i) {
			continue
		}
		if n := &l.asked[i%nackLogSize]; *n < maxAsks {
			*n++
			dst = append(dst, i)
		}
	}
	return dst
}

func (l *nackLog) set(seq uint16) {
	p := seq % nackLogSize
	l.received[p/64] |= 1 << (p % 64)
	l.asked[p] = 0
}

func (l *nackLog) clear(seq uint16) {
	p := seq % nackLogSize
	l.received[p/64] &^= 1 << (p % 64)
	l.asked[p] = 0
}

func (l *nackLog) has(seq uint16) bool {
	p := seq % nackLogSize
	return l.received[p/64]&(1<<(p%64)) != 0
}

func (l *nackLog) fixLastConsecutive() {
	i := l.lastConsecutive + 1
	for i != l.end+1 && l.has(i) {
		i++
	}
	l.lastConsecutive = i - 1
}

// receptionLogSize is the window over which a receiver report counts lost packets (pion's).
const receptionLogSize = 128 * 64

// receptionStats is what a receiver report says about a track (RFC 3550 §6.4.1), computed as
// pion's receiver report interceptor does.
type receptionStats struct {
	clockRate float64
	received  [receptionLogSize / 64]uint64

	started          bool
	cycles           uint16
	lastSeq          uint16
	lastReportSeq    uint16
	lastRTPTime      uint32
	lastArrival      time.Time
	jitter           float64
	lastSenderReport uint32 // middle 32 bits of the last SR's NTP time
	lastSRArrival    time.Time
	totalLost        uint32
}

func (s *receptionStats) add(seq uint16, rtpTime uint32, now time.Time) {
	if !s.started {
		s.started = true
		s.set(seq)
		s.lastSeq, s.lastReportSeq = seq, seq-1
		s.lastRTPTime, s.lastArrival = rtpTime, now
		return
	}
	s.set(seq)
	if diff := seq - s.lastSeq; diff > 0 && diff < 1<<15 {
		if seq < s.lastSeq {
			s.cycles++
		}
		for i := s.lastSeq + 1; i != seq; i++ {
			s.clear(i)
		}
		s.lastSeq = seq
	}
	// Interarrival jitter (RFC 3550 A.8), in timestamp units.
	d := now.Sub(s.lastArrival).Seconds()*s.clockRate - (float64(rtpTime) - float64(s.lastRTPTime))
	if d < 0 {
		d = -d
	}
	s.jitter += (d - s.jitter) / 16
	s.lastRTPTime, s.lastArrival = rtpTime, now
}

func (s *receptionStats) senderReport(ntpTime uint64, now time.Time) {
	s.lastSenderReport = uint32(ntpTime >> 16) //nolint:gosec // the middle 32 bits, by definition
	s.lastSRArrival = now
}

// report returns the reception report for ssrc since the last one.
func (s *receptionStats) report(ssrc uint32, now time.Time) rtcp.ReceptionReport {
	expected := s.lastSeq - s.lastReportSeq
	var lost uint32
	for i := s.lastReportSeq + 1; i != s.lastSeq; i++ {
		if !s.has(i) {
			lost++
		}
	}
	s.totalLost = min(s.totalLost+lost, 0xFFFFFF)
	var fraction uint8
	if expected != 0 {
		fraction = uint8(min(float64(lost*256)/float64(expected), 255))
	}
	var delay uint32
	if !s.lastSRArrival.IsZero() {
		delay = uint32(now.Sub(s.lastSRArrival).Seconds() * 65536)
	}
	s.lastReportSeq = s.lastSeq
	return rtcp.ReceptionReport{SSRC: ssrc, FractionLost: fraction, TotalLost: s.totalLost,
		LastSequenceNumber: uint32(s.cycles)<<16 | uint32(s.lastSeq), Jitter: uint32(s.jitter),
		LastSenderReport: s.lastSenderReport, Delay: delay}
}

func (s *receptionStats) set(seq uint16) {
	p := seq % receptionLogSize
	s.received[p/64] |= 1 << (p % 64)
}

func (s *receptionStats) clear(seq uint16) {
	p := seq % receptionLogSize
	s.received[p/64] &^= 1 << (p % 64)
}

func (s *receptionStats) has(seq uint16) bool {
	p := seq % receptionLogSize
	return s.received[p/64]&(1<<(p%64)) != 0
}
