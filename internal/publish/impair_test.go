package publish

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// wire records the sequence numbers written to it.
type wire struct {
	mu   sync.Mutex
	seqs []uint16
}

func (w *wire) Write(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	return 0, nil
}

func (w *wire) written() []uint16 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]uint16(nil), w.seqs...)
}

// impairSend sends n packets through an impairment, 1 ms apart, and returns what reached the wire
// once every delay line has drained.
func impairSend(t *testing.T, cfg Impairment, n int) ([]uint16, ImpairStats) {
	t.Helper()
	im := newImpairer(cfg)
	i, err := im.NewInterceptor("")
	require.NoError(t, err)
	var out wire
	w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 1}, &out)
	for k := range n {
		_, err := w.Write(&rtp.Header{SequenceNumber: uint16(k)}, []byte{1, 2, 3}, nil)
		require.NoError(t, err)
		if cfg.Jitter > 0 || cfg.ReorderPct > 0 {
			time.Sleep(time.Millisecond / 4)
		}
	}
	want := im.stats().Sent + im.stats().Duplicated
	require.Eventually(t, func() bool { return uint64(len(out.written())) == want }, 5*time.Second, time.Millisecond)
	require.NoError(t, i.Close())
	return out.written(), im.stats()
}

func TestImpairment(t *testing.T) {
	const n = 4000
	t.Run("random loss", func(t *testing.T) {
		got, st := impairSend(t, Impairment{LossPct: 5, Seed: 1}, n)
		require.InDelta(t, n*0.05, float64(st.Dropped), n*0.015)
		require.Len(t, got, n-int(st.Dropped))
		require.IsIncreasing(t, got)
	})
	t.Run("bursts", func(t *testing.T) {
		got, st := impairSend(t, Impairment{LossPct: 2, BurstMin: 5, BurstMax: 20, Seed: 2}, n)
		require.InDelta(t, n*0.02, float64(st.Dropped), n*0.015)
		for k := 1; k < len(got); k++ {
			if gap := int(got[k]-got[k-1]) - 1; gap > 0 {
				require.GreaterOrEqual(t, gap, 5, "burst before %d", got[k])
				require.LessOrEqual(t, gap, 40, "burst before %d (two bursts may touch)", got[k])
			}
		}
	})
	t.Run("reordering", func(t *testing.T) {
		got, st := impairSend(t, Impairment{ReorderPct: 5, ReorderBy: 20 * time.Millisecond, Seed: 3}, 400)
		require.Len(t, got, 400)
		require.Positive(t, st.Reordered)
		require.False(t, isSorted(got), "some packets are overtaken")
	})
	t.Run("jitter keeps order", func(t *testing.T) {
		got, _ := impairSend(t, Impairment{Jitter: 10 * time.Millisecond, Seed: 4}, 400)
		require.Len(t, got, 400)
		require.IsIncreasing(t, got)
	})
	t.Run("duplicates", func(t *testing.T) {
		got, st := impairSend(t, Impairment{DuplicatePct: 3, Seed: 5}, n)
		require.InDelta(t, n*0.03, float64(st.Duplicated), n*0.015)
		require.Len(t, got, n+int(st.Duplicated))
	})
	t.Run("seeded is reproducible", func(t *testing.T) {
		a, _ := impairSend(t, Impairment{LossPct: 5, Seed: 9}, 500)
		b, _ := impairSend(t, Impairment{LossPct: 5, Seed: 9}, 500)
		require.Equal(t, a, b)
	})
}

func isSorted(s []uint16) bool {
	for k := 1; k < len(s); k++ {
		if s[k] < s[k-1] {
			return false
		}
	}
	return true
}

func TestParseBurst(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"5-20", 5, 20, true}, {"10", 10, 10, true}, {"0", 0, 0, false}, {"20-5", 0, 0, false}, {"x", 0, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			lo, hi, err := ParseBurst(tc.in)
			if !tc.ok {
				require.ErrorIs(t, err, ErrBadBurst)
				return
			}
			require.NoError(t, err)
			require.Equal(t, [2]int{tc.lo, tc.hi}, [2]int{lo, hi})
		})
	}
}
