package recorder

import (
	"time"
)

// audioLead is how far audio may run ahead of the video on the timeline while it waits for the
// video to catch up (beyond it, video has stalled or is skipping to a keyframe: audio is written
// at once).
const audioLead = 500 * time.Millisecond

// heldAudio is an audio access unit waiting for the video, with its own copy of the data.
type heldAudio struct {
	au  accessUnit
	pts time.Duration
}

// holdsAudio tells whether au is audio ahead of the last video frame written: it waits, so that a
// cut at the next keyframe puts it on the right side of the cut (audio arrives ahead of a
// keyframe that is still being reassembled or retransmitted).
func (s *session) holdsAudio(au *accessUnit, pts time.Duration) bool {
	return s.video >= 0 && au.track == s.audio && s.seg != nil && s.videoPlaced && pts >= s.lastVideo
}

func (s *session) holdAudio(au *accessUnit, pts time.Duration) error {
	if pts-s.lastVideo >= audioLead {
		if err := s.releaseAudio(pts + 1); err != nil {
			return err
		}
		return s.write(au, pts)
	}
	var buf []byte
	if n := len(s.holdFree); n > 0 {
		buf, s.holdFree = s.holdFree[n-1], s.holdFree[:n-1]
	}
	h := heldAudio{au: *au, pts: pts}
	h.au.data = append(buf[:0], au.data...)
	s.held = append(s.held, h)
	return nil
}

// releaseAudio writes the held audio placed before limit, in order, into the open segment.
func (s *session) releaseAudio(limit time.Duration) error {
	n := 0
	for n < len(s.held) && s.held[n].pts < limit {
		h := &s.held[n]
		if s.seg != nil {
			if err := s.write(&h.au, h.pts); err != nil {
				return err
			}
		}
		s.holdFree = append(s.holdFree, h.au.data)
		n++
	}
	s.held = append(s.held[:0], s.held[n:]...)
	return nil
}

// releaseAllAudio writes every held audio unit (the segment is about to end for good).
func (s *session) releaseAllAudio() error {
	if len(s.held) == 0 {
		return nil
	}
	return s.releaseAudio(s.held[len(s.held)-1].pts + 1)
}
