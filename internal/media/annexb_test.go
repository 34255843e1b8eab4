package media

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitAnnexB(t *testing.T) {
	data := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5}
	require.Equal(t, [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4, 5}}, SplitAnnexB(data))
	require.Empty(t, SplitAnnexB([]byte{1, 2, 3}))
	require.Equal(t, [][]byte{{0x67}}, SplitAnnexB([]byte{0, 0, 1, 0x67, 0, 0, 1}), "no empty unit after a last start code")
}
