// Package catalog is the index of recorded segments, kept in an embedded bbolt database beside the
// recordings: stream, time span, bytes, codecs and state (recording, closed, recovered, deleted)
// of every segment file. It can be rebuilt from the files on disk. It imports nothing from the
// media pipeline: app feeds it the recorder's events.
package catalog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors of the catalog.
var (
	// ErrNotFound means no segment has that id.
	ErrNotFound = errors.New("recording not found")
	// ErrBusy means the segment is still being written.
	ErrBusy = errors.New("segment is being recorded: stop the recording first")
)

// State of a segment.
type State string

// Segment states.
const (
	StateRecording State = "recording"
	StateClosed    State = "closed"
	StateRecovered State = "recovered"
	StateDeleted   State = "deleted"
)

// Segment is one file of a recording.
type Segment struct {
	ID             string    `json:"id"`
	RecordingID    string    `json:"recordingId,omitempty"`
	Stream         string    `json:"stream"`
	MediaSessionID string    `json:"mediaSessionId,omitempty"`
	Index          int       `json:"segment"`
	Path           string    `json:"path"`
	Container      string    `json:"container"`
	VideoCodec     string    `json:"videoCodec,omitempty"`
	AudioCodec     string    `json:"audioCodec,omitempty"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Duration       float64   `json:"duration"` // seconds
	Bytes          int64     `json:"bytes"`
	State          State     `json:"state"`
	Error          string    `json:"error,omitempty"`
	// Offloaded means the local file was removed after a verified upload: the segment is in S3.
	Offloaded bool `json:"offloaded,omitempty"`
	// DeleteReason says why a deleted segment was deleted (api, min_free, max_age, …).
	DeleteReason string    `json:"deleteReason,omitempty"`
	Upload       *Upload   `json:"upload,omitempty"`
	Updated      time.Time `json:"updated"`
}

// UploadState is where a segment is in the offload queue.
type UploadState string

// Upload states.
const (
	UploadPending  UploadState = "pending"
	UploadUploaded UploadState = "uploaded"
	UploadFailed   UploadState = "failed" // retried: failed is the last attempt's outcome
)

// Upload is a segment's offload state, persisted so the queue survives restarts.
type Upload struct {
	State       UploadState `json:"state"`
	Key         string      `json:"key"`
	Attempts    int         `json:"attempts"`
	LastError   string      `json:"lastError,omitempty"`
	NextAttempt time.Time   `json:"nextAttempt,omitzero"`
	UploadedAt  time.Time   `json:"uploadedAt,omitzero"`
	ETag        string      `json:"etag,omitempty"`
	SHA256      string      `json:"sha256,omitempty"`
}

var (
	bucketSegments = []byte("segments")
	bucketKeys     = []byte("keys")
)

// Catalog is the segment index.
type Catalog struct {
	db *bolt.DB
}

// Open opens (creating if needed) the catalog database at path.
func Open(path string) (*Catalog, error) {
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSegments, bucketKeys} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("init catalog: %w", err), db.Close())
	}
	return &Catalog{db: db}, nil
}

// Close closes the database.
func (c *Catalog) Close() error { return c.db.Close() }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func recKey(recordingID string, index int) []byte {
	return []byte("rec/" + recordingID + "/" + strconv.Itoa(index))
}

func pathKey(path string) []byte { return []byte("path/" + path) }

func get(tx *bolt.Tx, key []byte) (*Segment, error) {
	v := tx.Bucket(bucketSegments).Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	var s Segment
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("decode segment: %w", err)
	}
	return &s, nil
}

func put(tx *bolt.Tx, s *Segment) error {
	id, err := strconv.ParseUint(s.ID, 10, 64)
	if err != nil {
		return fmt.Errorf("segment id %q: %w", s.ID, err)
	}
	s.Updated = time.Now().UTC()
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSegments).Put(idKey(id), v)
}

// Insert adds a segment and returns it with its new id.
func (c *Catalog) Insert(s Segment) (Segment, error) {
	err := c.db.Update(func(tx *bolt.Tx) error {
		n, err := tx.Bucket(bucketSegments).NextSequence()
		if err != nil {
			return err
		}
		s.ID = strconv.FormatUint(n, 10)
		keys := tx.Bucket(bucketKeys)
		if s.RecordingID != "" {
			if err := keys.Put(recKey(s.RecordingID, s.Index), idKey(n)); err != nil {
				return err
			}
		}
		if err := keys.Put(pathKey(s.Path), idKey(n)); err != nil {
			return err
		}
		return put(tx, &s)
	})
	return s, err
}

// UpdateByRecording changes the segment (recordingID, index) with fn.
func (c *Catalog) UpdateByRecording(recordingID string, index int, fn func(*Segment)) (Segment, error) {
	return c.update(recKey(recordingID, index), fn)
}

// UpdateByPath changes the segment last stored at path with fn.
func (c *Catalog) UpdateByPath(path string, fn func(*Segment)) (Segment, error) {
	return c.update(pathKey(path), fn)
}

func (c *Catalog) update(key []byte, fn func(*Segment)) (Segment, error) {
	var out Segment
	err := c.db.Update(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketKeys).Get(key)
		if id == nil {
			return ErrNotFound
		}
		s, err := get(tx, id)
		if err != nil {
			return err
		}
		oldPath := s.Path
		fn(s)
		if s.Path != oldPath {
			keys := tx.Bucket(bucketKeys)
			if err := keys.Delete(pathKey(oldPath)); err != nil {
				return err
			}
			if err := keys.Put(pathKey(s.Path), id); err != nil {
				return err
			}
		}
		out = *s
		return put(tx, s)
	})
	return out, err
}

// Get returns segment id.
func (c *Catalog) Get(id string) (Segment, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return Segment{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var out Segment
	err = c.db.View(func(tx *bolt.Tx) error {
		s, err := get(tx, idKey(n))
		if err != nil {
			return err
		}
		out = *s
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Segment{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return out, err
}

// Update changes segment id with fn.
func (c *Catalog) Update(id string, fn func(*Segment)) (Segment, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return Segment{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var out Segment
	err = c.db.Update(func(tx *bolt.Tx) error {
		s, err := get(tx, idKey(n))
		if err != nil {
			return err
		}
		fn(s)
		out = *s
		return put(tx, s)
	})
	return out, err
}

// Filter selects segments. Zero fields match everything.
type Filter struct {
	Stream      string
	RecordingID string
	From, To    time.Time // segments overlapping [From, To)
	States      []State   // empty: every state but deleted
	Offset      int
	Limit       int // 0: 100
}

func (f Filter) match(s *Segment) bool {
	if f.Stream != "" && s.Stream != f.Stream || f.RecordingID != "" && s.RecordingID != f.RecordingID {
		return false
	}
	if !f.From.IsZero() && !s.End.IsZero() && s.End.Before(f.From) || !f.To.IsZero() && !s.Start.Before(f.To) {
		return false
	}
	if len(f.States) == 0 {
		return s.State != StateDeleted
	}
	for _, st := range f.States {
		if s.State == st {
			return true
		}
	}
	return false
}

// List returns the matching segments in recording order, and how many match in all.
func (c *Catalog) List(f Filter) ([]Segment, int, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out := []Segment{}
	total := 0
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSegments).ForEach(func(_, v []byte) error {
			var s Segment
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("decode segment: %w", err)
			}
			if !f.match(&s) {
				return nil
			}
			if total >= f.Offset && len(out) < f.Limit {
				out = append(out, s)
			}
			total++
			return nil
		})
	})
	return out, total, err
}
