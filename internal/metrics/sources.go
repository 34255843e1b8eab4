package metrics

import (
	"time"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/rtc"
)

// The read interfaces of the metrics. Every method is called at scrape time (or, for the
// Detector, on an API request) from that request's goroutine, possibly concurrently with other
// scrapes; it must return quickly without waiting on media. Returned slices and maps belong to the
// caller, which only reads them.

// Streams lists the live streams, sorted by name (hub.Hub).
type Streams interface {
	List() []*hub.Stream
}

// Recorders reports the recordings (recorder.Manager).
type Recorders interface {
	// Active lists the running or waiting recordings.
	Active() []recorder.Status
	// Stats are the write counters since start.
	Stats() recorder.Stats
	// Health is, by stream name, whether each active recording keeps up.
	Health() map[string]recorder.Health
}

// RecorderHealth is the recorder as the Detector sees it (recorder.Manager).
type RecorderHealth interface {
	// StreamHealth is the health of the active recording of stream name; ok is false when the
	// stream is not recorded.
	StreamHealth(name string) (h recorder.Health, ok bool)
}

// Viewers counts the WHEP viewing sessions (egress.Manager).
type Viewers interface {
	Count() int
}

// Socket describes the media UDP socket (rtc.Engine).
type Socket interface {
	UDPStats() (rtc.UDPStats, error)
}

// The features below are built by other components (the disk guard, retention, the S3
// uploader, webhooks, pulls). Each is optional: with a nil source its series do not exist.

// DiskStats describe the recordings volume.
type DiskStats struct {
	// Free and Total are the free (for an unprivileged writer) and total bytes of the volume.
	Free, Total uint64
	// WriteRate is how fast recordings write to it, in bytes per second (smoothed).
	WriteRate float64
	// TimeToFull is when the volume fills at WriteRate; negative when it is not filling.
	TimeToFull time.Duration
	// MinFree and HardFloor are the effective thresholds in bytes.
	MinFree, HardFloor uint64
	// Low is a low-space episode; Paused means recording is paused under the hard floor.
	Low, Paused bool
}

// Disk reports the recordings volume (the disk guard).
type Disk interface {
	DiskStats() DiskStats
}

// RetentionStats count what retention deleted since start.
type RetentionStats struct {
	// Deleted and DeletedBytes count the segments deleted and their size.
	Deleted, DeletedBytes uint64
	// ByReason breaks Deleted down by rule ("max_age", "max_bytes", "min_free", …); may be nil.
	ByReason map[string]uint64
}

// Retention reports deletions by the retention policy.
type Retention interface {
	RetentionStats() RetentionStats
}

// UploadStats describe the offload queue.
type UploadStats struct {
	// Queue counts the segments waiting (or waiting to retry); InFlight those being uploaded.
	Queue, InFlight int
	// Uploaded and Failures count finished and failed attempts since start; Bytes the bytes
	// uploaded.
	Uploaded, Failures, Bytes uint64
	// Latency is the duration of the last successful upload.
	Latency time.Duration
	// LatencySum and LatencyCount add up every successful upload's duration, if kept (for the
	// average); zero otherwise.
	LatencySum   time.Duration
	LatencyCount uint64
}

// Uploads reports the S3 uploader.
type Uploads interface {
	UploadStats() UploadStats
}

// WebhookStats count webhook deliveries since start.
type WebhookStats struct {
	// Delivered counts events accepted by their endpoint; Failures the attempts that failed;
	// Dropped the events given up (queue full or retries exhausted).
	Delivered, Failures, Dropped uint64
	// Queue counts the events waiting.
	Queue int
}

// Webhooks reports the webhook dispatcher.
type Webhooks interface {
	WebhookStats() WebhookStats
}

// Pulls counts the pulled streams by state ("playing", "connecting", "failed", …).
type Pulls interface {
	PullStates() map[string]int
}

// Limits report what the API's limits refused.
type Limits interface {
	// LimitRefusals counts refused requests by limit name (every limit present).
	LimitRefusals() map[string]uint64
}
