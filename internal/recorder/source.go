package recorder

import (
	"slices"

	"github.com/vigilrec/vigil/internal/media"
)

// followSource notices packets of a track that come from a new SSRC: a new RTP session on that
// track (a pull that reconnected to its remote; RFC 3550 §8.2). Its sequence numbers and clock owe
// nothing to the previous session's, so the track's depacketizer starts over (frames the old
// session left incomplete are dropped, never written broken). When the track had already placed
// media on the timeline, the open segment is closed and a new one starts at the next keyframe,
// with A/V sync established again from the new session.
func (s *session) followSource(p *media.Packet) error {
	i := p.Track
	r := s.readers[i]
	if !r.hasSSRC {
		s.refreshTrack(i)
		r = s.readers[i]
		r.ssrc, r.hasSSRC = p.RTP.SSRC, true
		return nil
	}
	if r.ssrc == p.RTP.SSRC {
		return nil
	}
	fresh := s.newReader(i)
	fresh.ssrc, fresh.hasSSRC = p.RTP.SSRC, true
	s.readers[i] = fresh
	s.pending = slices.DeleteFunc(s.pending, func(au accessUnit) bool { return au.track == i })
	if !s.bases[i].set {
		return nil
	}
	s.rec.log.Info("new RTP source: starting a new segment", "track", i)
	return s.restartTimeline() // session.go
}

// refreshTrack takes track i's description again at its first packet: a publisher declares its
// tracks with the first codec negotiated and corrects them (hub.Stream.SetTrack) before the
// track's first packet, once its media shows the codec it really sends. A recording that
// started before that (an automatic one, at once) would otherwise depacketize VP8 as H.264.
func (s *session) refreshTrack(i int) {
	tracks := s.stream.Tracks()
	if i >= len(tracks) || tracks[i] == s.tracks[i] {
		return
	}
	s.tracks[i] = tracks[i]
	s.readers[i] = s.newReader(i)
}
