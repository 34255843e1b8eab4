package recorder

import (
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/segment/webm"
)

// errNoConfig means a keyframe lacked what the container needs (H.264 without SPS/PPS): the
// segment waits for the next keyframe.
var errNoConfig = errors.New("keyframe carries no codec configuration")

// openSegment is the file being written.
type openSegment struct {
	info       SegmentInfo
	file       File
	w          segment.Writer
	start      time.Duration // timeline PTS of the first sample
	trackIndex map[int]int   // hub track → segment track
	config     string        // codec configuration, to rotate when it changes
	askedKey   bool
	askedAgain bool
	samples    int
}

// segmentTracks describes the segment's tracks from the keyframe that opens it.
func segmentTracks(tracks []hub.TrackInfo, video, audio int, key []byte) ([]segment.Track, map[int]int, string, error) {
	var out []segment.Track
	idx := map[int]int{}
	config := ""
	if video >= 0 {
		t := tracks[video]
		st := segment.Track{Kind: media.KindVideo, Codec: t.Codec, ClockRate: t.ClockRate}
		if err := fillVideoConfig(&st, key); err != nil {
			return nil, nil, "", err
		}
		config = string(st.VPS) + string(st.SPS) + string(st.PPS) + string(st.SequenceHeader) +
			fmt.Sprint(st.Width, st.Height)
		idx[video] = len(out)
		out = append(out, st)
	}
	if audio >= 0 {
		t := tracks[audio]
		idx[audio] = len(out)
		out = append(out, segment.Track{Kind: media.KindAudio, Codec: t.Codec, ClockRate: t.ClockRate,
			Channels: max(int(t.Channels), 1)})
	}
	return out, idx, config, nil
}

func fillVideoConfig(st *segment.Track, key []byte) error {
	switch st.Codec {
	case media.H264, media.H265:
		for _, nal := range avccUnits(key) {
			if len(nal) == 0 {
				continue
			}
			if st.Codec == media.H264 {
				switch nal[0] & 0x1f {
				case 7:
					st.SPS = nal
				case 8:
					st.PPS = nal
				}
				continue
			}
			switch (nal[0] >> 1) & 0x3f {
			case 32:
				st.VPS = nal
			case 33:
				st.SPS = nal
			case 34:
				st.PPS = nal
			}
		}
		if st.SPS == nil || st.PPS == nil || (st.Codec == media.H265 && st.VPS == nil) {
			return errNoConfig
		}
	case media.VP8:
		if len(key) >= 10 && key[3] == 0x9d && key[4] == 0x01 && key[5] == 0x2a {
			st.Width = int(key[6]) | int(key[7]&0x3f)<<8
			st.Height = int(key[8]) | int(key[9]&0x3f)<<8
		}
	case media.VP9:
		var h vp9.Header
		if err := h.Unmarshal(key); err != nil || h.FrameSize == nil {
			return errNoConfig
		}
		st.Width, st.Height, st.VP9Profile, st.VP9Chroma = h.Width(), h.Height(), h.Profile, h.ChromaSubsampling()
		st.VP9BitDepth = 8
		if h.ColorConfig != nil {
			st.VP9BitDepth = h.ColorConfig.BitDepth
		}
	case media.AV1:
		st.SequenceHeader = av1SequenceHeader(key)
		if st.SequenceHeader == nil {
			return errNoConfig
		}
	}
	return nil
}

// av1SequenceHeader returns the sequence header OBU of a temporal unit.
func av1SequenceHeader(tu []byte) []byte {
	for len(tu) > 0 {
		h := tu[0]
		i := 1
		if h&0x04 != 0 {
			i++
		}
		if h&0x02 == 0 || i >= len(tu) {
			return nil
		}
		size, n := leb128(tu[i:])
		if n == 0 || i+n+size > len(tu) {
			return nil
		}
		if (h>>3)&0x0f == 1 {
			return tu[:i+n+size]
		}
		tu = tu[i+n+size:]
	}
	return nil
}

func newWriter(c Container, f File, tracks []segment.Track, opts segment.Options) (segment.Writer, error) {
	if c == WebM {
		return webm.New(f, tracks, opts)
	}
	return fmp4.New(f, tracks, opts)
}
