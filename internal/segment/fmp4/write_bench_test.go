package fmp4_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/storage"
	"github.com/vigilrec/vigil/internal/testutil"
)

// BenchmarkFragmentToFile writes one second of a 2.6 Mbps stream (30 frames of 10.8 KB, 50 Opus
// packets) per op to a segment file in the recordings directory, as a recording does: one
// vectored write from the samples' chunks against a copy into a pooled buffer and one write.
func BenchmarkFragmentToFile(b *testing.B) {
	video := testutil.H264Track(b, testutil.H264Frames(b, "240p-h264.h264")[0].Data)
	opus, channels := testutil.OpusPackets(b)
	frame := make([]byte, 10800)
	for i := range frame {
		frame[i] = byte(i * 31)
	}
	for _, mode := range []string{"writev", "copy"} {
		b.Run(mode, func(b *testing.B) {
			store, err := storage.New(storage.Config{Dir: b.TempDir(), Fsync: storage.FsyncNever}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			f, err := store.Create("bench.mp4")
			if err != nil {
				b.Fatal(err)
			}
			var out io.WriteSeeker = f
			if mode == "copy" {
				out = struct{ io.WriteSeeker }{f} // hides WriteBuffers
			}
			w, err := fmp4.New(out, []segment.Track{video, testutil.OpusTrack(channels)},
				segment.Options{Buffers: &segment.BufferPool{}})
			if err != nil {
				b.Fatal(err)
			}
			var sec time.Duration
			b.ReportAllocs()
			b.SetBytes(30*int64(len(frame)) + 50*int64(len(opus[0])))
			for b.Loop() {
				for i := range 50 {
					pts := sec + time.Duration(i)*20*time.Millisecond
					if i%5 < 3 { // 30 frames a second among the 50 audio packets
						v := segment.Sample{Track: 0, PTS: sec + time.Duration(i/5*3+i%5)*time.Second/30, Data: frame, Key: i == 0}
						if err := w.WriteSample(v); err != nil {
							b.Fatal(err)
						}
					}
					if err := w.WriteSample(segment.Sample{Track: 1, PTS: pts, Data: opus[i%len(opus)], Key: true}); err != nil {
						b.Fatal(err)
					}
				}
				sec += time.Second
			}
			b.StopTimer()
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Commit(""); err != nil {
				b.Fatal(err)
			}
		})
	}
}
