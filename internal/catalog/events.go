package catalog

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketEvents keeps webhook events until their receiver has them: key = url, 0, 8-byte sequence.
var bucketEvents = []byte("webhook-events")

func eventsBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	if tx.Writable() {
		return tx.CreateBucketIfNotExists(bucketEvents)
	}
	if b := tx.Bucket(bucketEvents); b != nil {
		return b, nil
	}
	return nil, nil
}

// PutEvent keeps an encoded event for url and returns its key.
func (c *Catalog) PutEvent(url string, event []byte) (string, error) {
	var key []byte
	err := c.db.Update(func(tx *bolt.Tx) error {
		b, err := eventsBucket(tx)
		if err != nil {
			return err
		}
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		key = binary.BigEndian.AppendUint64(append([]byte(url), 0), n)
		return b.Put(key, event)
	})
	if err != nil {
		return "", fmt.Errorf("keep event: %w", err)
	}
	return hex.EncodeToString(key), nil
}

// DeleteEvent forgets a delivered event.
func (c *Catalog) DeleteEvent(key string) error {
	k, err := hex.DecodeString(key)
	if err != nil {
		return fmt.Errorf("event key %q: %w", key, err)
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		b, err := eventsBucket(tx)
		if err != nil {
			return err
		}
		return b.Delete(k)
	})
}

// PendingEvents returns the events kept for url, oldest first, with their keys.
func (c *Catalog) PendingEvents(url string) ([]string, [][]byte, error) {
	var keys []string
	var events [][]byte
	prefix := append([]byte(url), 0)
	err := c.db.View(func(tx *bolt.Tx) error {
		b, err := eventsBucket(tx)
		if err != nil || b == nil {
			return err
		}
		cur := b.Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			keys = append(keys, hex.EncodeToString(k))
			events = append(events, append([]byte(nil), v...))
		}
		return nil
	})
	return keys, events, err
}
