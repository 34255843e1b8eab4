package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/vigilrec/vigil/internal/catalog"
)

// segmentMeta is the object metadata key that describes a segment, so the bucket alone says what
// it holds: the archive of record, readable without any node's catalog (a node that is gone).
const segmentMeta = "Vigil-Segment"

// Archived is a segment as the bucket holds it.
type Archived struct {
	// Key is the object's key; Node the node that recorded it.
	Key  string `json:"key"`
	Node string `json:"node"`
	catalog.Segment
}

// metadata is what an object of segment s carries beside its content.
func (u *Uploader) metadata(s catalog.Segment, sum string) map[string]string {
	s.Path = filepath.Base(s.Path)
	s.Upload, s.State, s.Error, s.DeleteReason, s.Offloaded = nil, "", "", "", false
	desc, _ := json.Marshal(Archived{Node: u.cfg.Node, Segment: s})
	return map[string]string{"sha256": sum, segmentMeta: string(desc)}
}

// Archive lists the segments of the bucket that vigil uploaded (every node's), oldest first;
// stream, when not empty, keeps that stream's only. Objects without vigil's description (other
// data in the bucket) are left out.
func (u *Uploader) Archive(ctx context.Context, stream string) ([]Archived, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var keys []string
	for obj := range u.client.ListObjects(ctx, u.cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list bucket %s: %w", u.cfg.Bucket, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	// The listing does not carry user metadata on every S3 implementation: each object is asked.
	out := make([]*Archived, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			info, err := u.client.StatObject(ctx, u.cfg.Bucket, key, minio.StatObjectOptions{})
			if err != nil {
				errs[i] = fmt.Errorf("stat %s: %w", key, err)
				return
			}
			desc := info.UserMetadata[segmentMeta]
			var a Archived
			if desc == "" || json.Unmarshal([]byte(desc), &a) != nil {
				return
			}
			if stream == "" || a.Stream == stream {
				a.Key = key
				out[i] = &a
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var list []Archived
	for _, a := range out {
		if a != nil {
			list = append(list, *a)
		}
	}
	slices.SortFunc(list, func(a, b Archived) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return list, nil
}
