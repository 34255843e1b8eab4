package rtc

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// RTCPReader is a pion RTP receiver or sender: both carry the RTCP of their track.
type RTCPReader interface {
	ReadRTCP() ([]rtcp.Packet, interceptor.Attributes, error)
}

// RTCPWriter is a peer connection, as far as sending feedback goes.
type RTCPWriter interface {
	WriteRTCP(pkts []rtcp.Packet) error
}

// ReadRTCP hands every RTCP packet r reads to fn until r fails, which it does once its peer
// connection is closed. A track's RTCP must be read even when nothing in it matters to the caller:
// pion's interceptors (NACK, reports) only see what is read.
func ReadRTCP(r RTCPReader, fn func(rtcp.Packet)) {
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			fn(p)
		}
	}
}

// IsKeyframeRequest reports whether p asks the sender for a keyframe: a PLI (RFC 4585 §6.3.1) or
// a FIR (RFC 5104 §4.3.1).
func IsKeyframeRequest(p rtcp.Packet) bool {
	switch p.(type) {
	case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
		return true
	}
	return false
}

// SendPLI asks the sender of each of ssrcs for a keyframe with a PLI (RFC 4585 §6.3.1). One
// failed write does not keep the other SSRCs from being asked.
func SendPLI(w RTCPWriter, ssrcs ...uint32) error {
	var errs []error
	for _, ssrc := range ssrcs {
		if err := w.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			errs = append(errs, fmt.Errorf("PLI for SSRC %d: %w", ssrc, err))
		}
	}
	return errors.Join(errs...)
}

// NTPTime converts a 64-bit NTP timestamp (RFC 5905 §6), as sender reports carry it, to time.Time.
func NTPTime(ntp uint64) time.Time {
	const ntpToUnix = 2208988800 // seconds from 1900 to 1970
	secs := int64(ntp>>32) - ntpToUnix
	frac := (ntp & 0xffffffff) * 1e9 >> 32
	return time.Unix(secs, int64(frac))
}
