package upload

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/testutil"
)

// The bucket describes what vigil put in it: Archive lists those segments (with the node that
// recorded them) and nothing else, filtered by stream.
func TestArchiveListsTheBucket(t *testing.T) {
	f := newFixture(t, Config{})
	a, _ := f.segment(t, "a.mp4", 1000)
	b, _ := f.segment(t, "b.mp4", 2000)
	require.NoError(t, f.up.Enqueue(a.ID))
	require.NoError(t, f.up.Enqueue(b.ID))
	f.waitUploaded(t, a.ID)
	f.waitUploaded(t, b.ID)
	ctx := context.Background()
	_, err := f.s3.Client.PutObject(ctx, testutil.S3Bucket, "other/data.bin", strings.NewReader("not vigil's"), 11,
		minio.PutObjectOptions{})
	require.NoError(t, err)

	list, err := f.up.Archive(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 2)
	for i, seg := range []struct{ id, file string }{{a.ID, "a.mp4"}, {b.ID, "b.mp4"}} {
		require.Equal(t, seg.id, list[i].ID)
		require.Equal(t, "node", list[i].Node)
		require.Equal(t, "cam", list[i].Stream)
		require.Equal(t, seg.file, list[i].Path, "the file name, not the node's path")
		require.True(t, strings.HasSuffix(list[i].Key, "/"+seg.file), list[i].Key)
	}
	require.Equal(t, int64(2000), list[1].Bytes)

	none, err := f.up.Archive(ctx, "other-stream")
	require.NoError(t, err)
	require.Empty(t, none)
}
