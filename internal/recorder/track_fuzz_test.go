package recorder

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/storage"
	"github.com/vigilrec/vigil/internal/testutil"
)

// Flags in the 2-byte header of a fuzzed packet; the low 11 bits are the payload length.
const (
	fuzzMarker   = 0x8000 // RTP marker bit; the next packet starts a new frame (timestamp + 3000)
	fuzzLoss     = 0x4000 // one sequence number is skipped before this packet
	fuzzReorder  = 0x2000 // this packet is sent before the previous one
	fuzzBackward = 0x1000 // the timestamp steps back one frame
	fuzzLenMask  = 0x07ff
)

// fuzzPackets splits data into RTP packets: a 2-byte big-endian header (flags and length) then
// the payload. Sequence numbers and timestamps count from a fixed start, near their wraps.
func fuzzPackets(data []byte) []*rtp.Packet {
	var out []*rtp.Packet
	seq, ts := uint16(65530), uint32(0xffffd000)
	for len(data) >= 2 {
		h := binary.BigEndian.Uint16(data)
		n := min(int(h&fuzzLenMask), len(data)-2)
		payload := data[2 : 2+n]
		data = data[2+n:]
		if h&fuzzLoss != 0 {
			seq++
		}
		if h&fuzzBackward != 0 {
			ts -= clipFrameTicks
		}
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts,
			SSRC: 1, Marker: h&fuzzMarker != 0}, Payload: payload}
		seq++
		if h&fuzzMarker != 0 {
			ts += clipFrameTicks
		}
		out = append(out, p)
		if k := len(out); h&fuzzReorder != 0 && k >= 2 {
			out[k-1], out[k-2] = out[k-2], out[k-1]
		}
	}
	return out
}

// fuzzContainers lists the containers each codec is written to.
func fuzzContainers(c media.Codec) []Container {
	switch c {
	case media.H264, media.H265:
		return []Container{MP4}
	case media.VP8:
		return []Container{WebM}
	}
	return []Container{MP4, WebM}
}

// FuzzRTPToSegments feeds arbitrary RTP payloads of every codec through the track reader and
// whatever access units come out through the segment writers. Nothing may panic, and the output
// must stay whole: fMP4 boxes cover the file exactly, and storage's repair keeps every byte of a
// closed file. Repair syncs every file, so fuzz with TMPDIR on a tmpfs (TMPDIR=/dev/shm).
func FuzzRTPToSegments(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		packets := fuzzPackets(data)
		dir := t.TempDir()
		for _, codec := range media.AllCodecs() {
			info := hub.TrackInfo{Kind: codec.Kind(), Codec: codec, ClockRate: codec.ClockRate(), Channels: 2}
			r, c := newCollected(info)
			for i, p := range packets {
				require.NoError(t, r.push(&media.Packet{RTP: p, Kind: info.Kind, Arrival: time.Unix(int64(i), 0)}))
			}
			require.NoError(t, r.flush())
			aus := c.aus
			for _, c := range fuzzContainers(codec) {
				out := fuzzWrite(info, c, aus)
				if len(out) == 0 {
					continue
				}
				if c == MP4 {
					testutil.RequireFMP4Boxes(t, out)
				}
				requireRepairKeepsAll(t, dir, c, out)
			}
		}
	})
}

// fuzzWrite writes access units into container c, opening the segment at the first key frame
// whose configuration the writer accepts, and returns the bytes written.
func fuzzWrite(info hub.TrackInfo, c Container, aus []accessUnit) []byte {
	var file memFile
	var w segment.Writer
	var first int64
	for _, au := range aus {
		if w == nil {
			if !au.key {
				continue
			}
			video, audio := 0, -1
			if info.Kind == media.KindAudio {
				video, audio = -1, 0
			}
			tracks, _, _, err := segmentTracks([]hub.TrackInfo{info}, video, audio, au.data)
			if err != nil {
				continue
			}
			file = memFile{}
			nw, err := newWriter(c, &file, tracks, segment.Options{})
			if err != nil {
				continue
			}
			w, first = nw, au.rtp64
		}
		pts := time.Duration((au.rtp64 - first) * int64(time.Second) / int64(info.ClockRate))
		if err := w.WriteSample(segment.Sample{PTS: pts, Key: au.key, Data: au.data}); err != nil {
			break
		}
	}
	if w == nil {
		return nil
	}
	_ = w.Close() // an error leaves what was written whole, which the caller checks
	return file.data
}

// requireRepairKeepsAll stores b as an unfinished segment and has storage repair it: it must find
// the header and every fragment or cluster whole, so it cuts nothing.
func requireRepairKeepsAll(t *testing.T, dir string, c Container, b []byte) {
	t.Helper()
	part := filepath.Join(dir, "x."+string(c)+storage.PartSuffix)
	require.NoError(t, os.WriteFile(part, b, 0o644))
	s, err := storage.New(storage.Config{Dir: dir}, discardLogger())
	require.NoError(t, err)
	rec, err := s.Recover()
	require.NoError(t, err)
	require.Len(t, rec, 1)
	require.Zero(t, rec[0].Cut, "repair cut a whole %s file", c)
	require.Equal(t, int64(len(b)), rec[0].Bytes)
	require.NoError(t, os.Remove(rec[0].Path))
}

// memFile is an in-memory segment File.
type memFile struct {
	data []byte
	pos  int64
}

func (f *memFile) Write(b []byte) (int, error) {
	if grow := f.pos + int64(len(b)) - int64(len(f.data)); grow > 0 {
		f.data = append(f.data, make([]byte, grow)...)
	}
	copy(f.data[f.pos:], b)
	f.pos += int64(len(b))
	return len(b), nil
}

func (f *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 1:
		off += f.pos
	case 2:
		off += int64(len(f.data))
	}
	f.pos = off
	return off, nil
}

func (f *memFile) Commit(string) (string, error) { return "", nil }
func (f *memFile) Abort() error                  { return nil }
