package fmp4

import (
	"encoding/binary"
	"errors"
	"time"
)

// withDuration gives an init segment its duration, for a file whose length is known before it
// is written: in mvhd, and in a mehd box (the fragments' total duration) at the start of mvex,
// which is where players read the length of a fragmented file from.
func withDuration(init []byte, d time.Duration) ([]byte, error) {
	moov, ok := findBox(init, 0, len(init), "moov")
	if !ok {
		return nil, errors.New("init segment without moov")
	}
	mvhd, ok := findBox(init, moov+8, boxEnd(init, moov), "mvhd")
	if !ok || init[mvhd+8] != 0 {
		return nil, errors.New("init segment without a version 0 mvhd")
	}
	timescale := binary.BigEndian.Uint32(init[mvhd+20:])
	ticks := uint64(d) * uint64(timescale) / uint64(time.Second)
	if ticks > 0xffffffff {
		return nil, errors.New("duration too long for a version 0 mvhd")
	}
	mvex, ok := findBox(init, moov+8, boxEnd(init, moov), "mvex")
	if !ok {
		return nil, errors.New("init segment without mvex")
	}
	out := make([]byte, 0, len(init)+16)
	out = append(out, init[:mvex+8]...)
	start := len(out)
	out = appendFullBoxHeader(out, "mehd", 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(ticks))
	out = setBoxSize(out, start)
	out = append(out, init[mvex+8:]...)
	binary.BigEndian.PutUint32(out[mvhd+24:], uint32(ticks))
	for _, at := range []int{moov, mvex} {
		binary.BigEndian.PutUint32(out[at:], binary.BigEndian.Uint32(out[at:])+16)
	}
	return out, nil
}

// findBox returns where the first box of type typ between from and to starts.
func findBox(b []byte, from, to int, typ string) (int, bool) {
	for at := from; at+8 <= to; {
		size := int(binary.BigEndian.Uint32(b[at:]))
		if size < 8 || at+size > to {
			return 0, false
		}
		if string(b[at+4:at+8]) == typ {
			return at, true
		}
		at += size
	}
	return 0, false
}

func boxEnd(b []byte, at int) int { return at + int(binary.BigEndian.Uint32(b[at:])) }

// mp4Epoch is where MP4 times count from.
var mp4Epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

// withStart writes t as the movie's creation and modification time (whole seconds since 1904),
// which ffprobe shows as the file's creation_time.
func withStart(init []byte, t time.Time) error {
	moov, ok := findBox(init, 0, len(init), "moov")
	if !ok {
		return errors.New("init segment without moov")
	}
	mvhd, ok := findBox(init, moov+8, boxEnd(init, moov), "mvhd")
	if !ok || init[mvhd+8] != 0 {
		return errors.New("init segment without a version 0 mvhd")
	}
	secs := t.Sub(mp4Epoch) / time.Second
	if secs < 0 || secs > 0xffffffff {
		return errors.New("start time out of a version 0 mvhd's range")
	}
	binary.BigEndian.PutUint32(init[mvhd+12:], uint32(secs))
	binary.BigEndian.PutUint32(init[mvhd+16:], uint32(secs))
	return nil
}
