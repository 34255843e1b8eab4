package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStatusView(t *testing.T) {
	r := testReport()
	st := status{phase: "recording", elapsed: 12 * time.Second, remaining: 8 * time.Second, streams: 2, started: 2,
		nodes: r.Nodes, sample: r.Samples[10], measured: 1}

	var out bytes.Buffer
	v := newStatusView(&out)
	require.False(t, v.tty, "a buffer is not a terminal")
	v.show(st)
	v.show(st) // within 5 s: not printed again
	line := out.String()
	require.Equal(t, 1, strings.Count(line, "\n"), line)
	require.Contains(t, line, "streams live 2/2  recording 2  degraded 0  loss 0.50%")
	require.Contains(t, line, "recorder cpu 10.0% rss 60 MB")
	require.Contains(t, line, "free 999 MB, full in 1.9h")

	out.Reset()
	v.tty = true
	v.show(st)
	v.say("hello")
	v.show(st)
	text := out.String()
	require.Contains(t, text, "\x1b[4A\x1b[J", "the 4-line block is erased before a message")
	require.Contains(t, text, "elapsed 12s  remaining 8s")
	require.Contains(t, text, "\x1b[Jhello\n[recording]", "the message, then the block again")

	st.sample = r.Samples[22]
	require.Contains(t, st.block()[3], "recorder  DOWN")
}

func TestHumanSeconds(t *testing.T) {
	require.Equal(t, "45s", humanSeconds(45))
	require.Equal(t, "12m30s", humanSeconds(750))
	require.Equal(t, "5.0h", humanSeconds(5*3600))
	require.Equal(t, "3.0d", humanSeconds(3*86400))
}
