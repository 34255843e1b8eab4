package recorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
)

// readLinger is how often a recording takes the packets queued for it: a file is written once
// per fragment, so nothing is gained by waking for every packet.
const readLinger = 100 * time.Millisecond

// session records one publishing session of a stream into the recording's segments.
type session struct {
	rec     *Recording
	stream  *hub.Stream
	tracks  []hub.TrackInfo
	readers []*trackReader
	video   int // hub track index, -1 if none
	audio   int

	originSet bool
	origin    time.Time
	srMode    bool
	bases     []trackBase
	pending   []accessUnit // audio waiting for the first video keyframe
	seg       *openSegment
	retryAt   time.Time // after a storage failure, no new segment before this (arrival clock)
	now       time.Time // arrival time of the newest packet: the session's clock
	keyAsked  bool      // a keyframe was requested to open the next segment

	// Audio waiting for the video to catch up (session_hold.go).
	held        []heldAudio
	holdFree    [][]byte
	lastVideo   time.Duration
	videoPlaced bool
}

type trackBase struct {
	set  bool
	rtp  int64
	wall time.Time
}

func newSession(rec *Recording, stream *hub.Stream) *session {
	s := &session{rec: rec, stream: stream, tracks: stream.Tracks(), video: -1, audio: -1}
	for i, t := range s.tracks {
		if t.Kind == media.KindVideo && s.video < 0 {
			s.video = i
		}
		if t.Kind == media.KindAudio && s.audio < 0 {
			s.audio = i
		}
	}
	for i := range s.tracks {
		s.readers = append(s.readers, s.newReader(i))
	}
	s.bases = make([]trackBase, len(s.tracks))
	return s
}

// newReader makes the reader of track i; the track that opens segments is the primary one.
func (s *session) newReader(i int) *trackReader {
	primary := i == s.video || (s.video < 0 && i == s.audio)
	return newTrackReader(i, s.tracks[i], primary, s, &s.rec.loss)
}

// run records until ctx ends or the stream does; the open segment is always closed.
func (s *session) run(ctx context.Context) error {
	sub, err := s.stream.Subscribe(hub.SubscribeOptions{FromLastKeyframe: s.rec.opts.Preroll,
		StartAtKeyframe: !s.rec.opts.Preroll, Linger: readLinger})
	if err != nil {
		return err
	}
	defer sub.Close()
	batch := make([]*media.Packet, 128)
	for {
		n, readErr := sub.Read(ctx, batch)
		s.rec.noteDrops(sub.Dropped())
		if err := s.push(batch[:n]); err != nil {
			return s.closeSegment(err)
		}
		clear(batch[:n])
		if readErr == nil {
			// A stop ends the recording at once, even when the recording is behind and its
			// queue never empties (Read returns what is queued before it looks at ctx).
			readErr = ctx.Err()
		}
		if readErr != nil {
			// What the readers hold behind holes is handed on; frames left incomplete are not
			// written.
			for _, r := range s.readers {
				if err := r.flush(); err != nil {
					return s.closeSegment(err)
				}
			}
			if err := s.releaseAllAudio(); err != nil {
				return s.closeSegment(err)
			}
			if cerr := s.closeSegment(nil); cerr != nil {
				return cerr
			}
			if errors.Is(readErr, context.Canceled) {
				return nil
			}
			return readErr
		}
	}
}

// push hands a batch of packets to the track readers, then lets every reader give up the holes
// whose wait has expired by the newest arrival.
func (s *session) push(batch []*media.Packet) error {
	for _, p := range batch {
		if p.Track >= len(s.readers) {
			continue
		}
		if err := s.followSource(p); err != nil { // source.go
			return err
		}
		if p.Arrival.After(s.now) {
			s.now = p.Arrival
		}
		if err := s.readers[p.Track].push(p); err != nil {
			return err
		}
	}
	if len(batch) == 0 {
		return nil
	}
	for _, r := range s.readers {
		if err := r.tick(s.now); err != nil {
			return err
		}
	}
	return nil
}

// accessUnit implements auSink.
func (s *session) accessUnit(au *accessUnit) error { return s.handle(au) }

// keyframeNeeded implements auSink.
func (s *session) keyframeNeeded() { s.stream.RequestKeyframe() }

// discontinuity implements auSink: the segment is closed and a new one starts at the next
// keyframe, with A/V sync established afresh.
func (s *session) discontinuity(track int, reason string) error {
	s.rec.log.Warn("timeline discontinuity: starting a new segment", "track", track, "reason", reason)
	return s.restartTimeline()
}

// restartTimeline closes the segment (with the audio held for it) and starts the timeline over:
// the next segment opens at a keyframe, which is requested, with A/V sync established afresh.
func (s *session) restartTimeline() error {
	s.rec.loss.discontinuities.Add(1)
	if err := s.releaseAllAudio(); err != nil {
		return err
	}
	s.videoPlaced = false
	if err := s.closeSegment(nil); err != nil {
		return err
	}
	s.originSet, s.bases, s.pending = false, make([]trackBase, len(s.tracks)), nil
	s.stream.RequestKeyframe()
	return nil
}

func (s *session) handle(au *accessUnit) error {
	if au.track != s.video && au.track != s.audio {
		return nil
	}
	if !s.originSet {
		if s.video >= 0 && au.track != s.video {
			if len(s.pending) < 1000 {
				kept := *au
				kept.data = slices.Clone(au.data) // the reader reuses its buffer
				s.pending = append(s.pending, kept)
			}
			return nil
		}
		if s.video >= 0 && !au.key {
			return nil
		}
		s.setOrigin(au)
		// The keyframe opens the segment first; then the audio that arrived before it (while it
		// was reassembled or retransmitted) is placed, the part from time zero on kept.
		err := s.place(au, s.pts(au))
		pending := s.pending
		s.pending = nil
		for i := range pending {
			// Errors surface on the next sample.
			_ = s.handle(&pending[i])
		}
		return err
	}
	return s.place(au, s.pts(au))
}

// setOrigin fixes time zero of the session at the first keyframe. Sender reports are used for
// every track when every track has one; otherwise arrival times are, for all tracks alike, so the
// two clocks are never mixed.
func (s *session) setOrigin(au *accessUnit) {
	s.srMode = true
	for _, i := range []int{s.video, s.audio} {
		if i >= 0 {
			if _, ok := s.stream.SenderReport(i); !ok {
				s.srMode = false
			}
		}
	}
	s.originSet = true
	s.origin = s.wallOf(au)
}

func (s *session) wallOf(au *accessUnit) time.Time {
	if s.srMode {
		if sr, ok := s.stream.SenderReport(au.track); ok {
			clock := int64(s.tracks[au.track].ClockRate)
			delta := int64(int32(uint32(au.rtp64) - sr.RTPTime))
			return sr.NTPTime.Add(time.Duration(delta * int64(time.Second) / clock))
		}
	}
	return au.wall
}

// pts places an access unit on the session timeline: from its track's first access unit on, by
// its RTP clock alone. What the network does to arrival times never moves it; real
// discontinuities reach the session through discontinuity instead.
func (s *session) pts(au *accessUnit) time.Duration {
	b := &s.bases[au.track]
	if !b.set {
		*b = trackBase{set: true, rtp: au.rtp64, wall: s.wallOf(au)}
	}
	clock := int64(s.tracks[au.track].ClockRate)
	return b.wall.Sub(s.origin) + time.Duration((au.rtp64-b.rtp)*int64(time.Second)/clock)
}

// place writes the access unit, opening and rotating segments at keyframes. Storage failures
// never end the recording: the segment is closed at its last whole fragment, the failure is shown
// in the recording's status, and a new segment is tried after writeRetry.
func (s *session) place(au *accessUnit, pts time.Duration) error {
	if s.holdsAudio(au, pts) {
		return s.holdAudio(au, pts)
	}
	if au.track == s.video {
		// The audio before this frame goes where the video before it went.
		if err := s.releaseAudio(pts); err != nil {
			return err
		}
	}
	if reason, paused := s.rec.mgr.pausedReason(); paused {
		if s.seg != nil {
			_ = s.closeSegment(nil) // reported through the segment's events
		}
		s.rec.setPaused(reason)
		return nil
	}
	if s.now.Before(s.retryAt) {
		return nil
	}
	opensSegments := au.track == s.video || s.video < 0
	if s.seg != nil && opensSegments {
		s.askForKeyframe(pts)
		if au.key && s.rotationDue(pts) {
			if err := s.cutSegment(pts); err != nil {
				return s.storageFailed(err)
			}
		}
	}
	if s.seg == nil {
		if !opensSegments || !au.key {
			if opensSegments && !s.keyAsked {
				s.keyAsked = true // after a pause or a failure: do not wait a whole GOP
				s.stream.RequestKeyframe()
			}
			return nil
		}
		if err := s.openSegment(au, pts); err != nil {
			if errors.Is(err, errNoConfig) {
				s.stream.RequestKeyframe()
				return nil
			}
			if errors.Is(err, ErrBadTemplate) {
				return err
			}
			return s.storageFailed(err)
		}
		s.keyAsked = false
		s.rec.setRecording()
	} else if au.key && au.track == s.video {
		if _, _, cfg, err := segmentTracks(s.tracks, s.video, s.audio, au.data); err == nil && cfg != s.seg.config {
			// The publisher changed resolution or parameter sets: a new file gets a new header.
			if err := s.cutSegment(pts); err != nil {
				return s.storageFailed(err)
			}
			return s.place(au, pts)
		}
	}
	return s.write(au, pts)
}

// write writes an access unit into the open segment.
func (s *session) write(au *accessUnit, pts time.Duration) error {
	rel := pts - s.seg.start
	if rel < 0 {
		return nil // audio from just before the cut: it belongs to the previous segment
	}
	if au.track == s.video {
		s.lastVideo, s.videoPlaced = pts, true
	}
	before := s.seg.w.Bytes()
	if err := s.seg.w.WriteSample(segment.Sample{Track: s.seg.trackIndex[au.track], PTS: rel, Key: au.key, Data: au.data}); err != nil {
		return s.storageFailed(s.closeSegment(fmt.Errorf("write segment %s: %w", s.seg.info.Path, err)))
	}
	s.seg.samples++
	s.rec.mgr.countWritten(s.stream.Name(), s.seg.w.Bytes()-before)
	s.rec.progress(s.seg)
	return nil
}

// storageFailed records a write failure and schedules the retry; the recording goes on.
func (s *session) storageFailed(err error) error {
	s.retryAt = s.now.Add(s.rec.mgr.cfg.WriteRetry)
	s.keyAsked = false
	s.rec.setFailure(err)
	return nil
}

// keyframeLead is how early before a duration threshold a keyframe is requested (for sizes: at
// 90%). A keyframe arriving after the request (its answer) makes the cut, so segments end on
// time instead of up to one GOP late.
const keyframeLead = 200 * time.Millisecond

// thresholds reports whether the segment is near its rotation threshold, and past it.
func (s *session) thresholds(pts time.Duration) (near, due bool) {
	r := s.rec.mgr.rotationWithLimit(s.rec.opts.Rotation)
	dur, size := pts-s.seg.start, s.seg.w.Bytes()
	near = (r.Duration > 0 && dur >= r.Duration-keyframeLead) || (r.Bytes > 0 && size >= r.Bytes*9/10)
	due = (r.Duration > 0 && dur >= r.Duration) || (r.Bytes > 0 && size >= r.Bytes)
	return near, due
}

func (s *session) rotationDue(pts time.Duration) bool {
	near, due := s.thresholds(pts)
	return due || (near && s.seg.askedKey)
}

// askForKeyframe requests a keyframe when the threshold nears, and once more when it is reached
// without one (the hub rate-limits requests per publisher).
func (s *session) askForKeyframe(pts time.Duration) {
	near, due := s.thresholds(pts)
	switch {
	case near && !s.seg.askedKey:
		s.seg.askedKey = true
		s.stream.RequestKeyframe()
	case due && !s.seg.askedAgain:
		s.seg.askedAgain = true
		s.stream.RequestKeyframe()
	}
}

func (s *session) openSegment(au *accessUnit, pts time.Duration) error {
	tracks, idx, config, err := segmentTracks(s.tracks, s.video, s.audio, au.data)
	if err != nil {
		return err
	}
	videoCodec, audioCodec := "", ""
	if s.video >= 0 {
		videoCodec = string(s.tracks[s.video].Codec)
	}
	if s.audio >= 0 {
		audioCodec = string(s.tracks[s.audio].Codec)
	}
	container := s.rec.opts.Formats.For(media.Codec(videoCodec))
	start := s.origin.Add(pts)
	info := SegmentInfo{RecordingID: s.rec.id, Stream: s.stream.Name(), MediaSessionID: s.stream.ID(),
		Index: s.rec.nextSegment(), Container: container, VideoCodec: videoCodec, AudioCodec: audioCodec, Start: start}
	name, err := s.rec.fileName(info, start)
	if err != nil {
		return err
	}
	f, err := s.rec.mgr.sink.Create(name)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if p, ok := f.(interface{ PartPath() string }); ok {
		info.Path = p.PartPath()
	}
	f = s.rec.timed(f) // counts and times the writes (stats.go)
	w, err := newWriter(container, f, tracks, segment.Options{FragmentDuration: s.rec.mgr.cfg.FragmentDuration,
		Buffers: &s.rec.mgr.buffers})
	if err != nil {
		return errors.Join(fmt.Errorf("start segment: %w", err), f.Abort())
	}
	s.seg = &openSegment{info: info, file: f, w: w, start: pts, trackIndex: idx, config: config}
	s.rec.segmentOpened(info)
	return nil
}

// closeSegment finishes the open segment; cause, when set, is why (a write error) and is
// returned joined with any error of closing.
func (s *session) closeSegment(cause error) error { return s.closeSegmentAt(cause, -1) }

// cutSegment closes the open segment where the next one starts (pts), so that the two tile the
// timeline: whatever was lost just before the cut lengthens the last frame instead of leaving a
// hole between the files.
func (s *session) cutSegment(pts time.Duration) error { return s.closeSegmentAt(nil, pts) }

func (s *session) closeSegmentAt(cause error, pts time.Duration) error {
	seg := s.seg
	if seg == nil {
		return cause
	}
	s.seg = nil
	var werr error
	if pts >= seg.start {
		werr = seg.w.CloseAt(pts - seg.start)
	} else {
		werr = seg.w.Close()
	}
	info := seg.info
	info.Duration = seg.w.Duration()
	info.End = info.Start.Add(info.Duration)
	info.Bytes = seg.w.Bytes()
	if seg.samples == 0 {
		info.Err = errors.Join(errEmptySegment, seg.file.Abort())
		info.Path = ""
		s.rec.segmentClosed(info)
		return errors.Join(cause, werr)
	}
	name, nerr := s.rec.fileName(info, info.End)
	path, cerr := seg.file.Commit(name)
	info.Path = path
	info.Err = errors.Join(cause, werr, nerr, cerr)
	s.rec.segmentClosed(info)
	return info.Err
}

var errEmptySegment = errors.New("segment got no media and was removed")
