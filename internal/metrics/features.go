package metrics

import (
	"math"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// features collects the series of optional components: each family exists only when its source
// was given.
type features struct {
	src Sources

	diskFree, diskTotal, diskUsed, diskRate, diskTTF *prometheus.Desc
	diskMinFree, diskFloor, diskLow, diskPaused      *prometheus.Desc
	retDeleted, retBytes, retByReason                *prometheus.Desc
	upQueue, upInFlight, upDone, upFailed, upBytes   *prometheus.Desc
	upLast, upDuration                               *prometheus.Desc
	whDelivered, whFailed, whDropped, whQueue        *prometheus.Desc
	pulls                                            *prometheus.Desc
	limitRefusals                                    *prometheus.Desc
}

func newFeatures(src Sources) *features {
	if src.Disk == nil && src.Retention == nil && src.Uploads == nil && src.Webhooks == nil && src.Pulls == nil &&
		src.Limits == nil {
		return nil
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	f := &features{src: src}
	if src.Disk != nil {
		f.diskFree = d("vigil_disk_free_bytes", "Free bytes on the recordings volume.")
		f.diskTotal = d("vigil_disk_total_bytes", "Size of the recordings volume.")
		f.diskUsed = d("vigil_disk_used_ratio", "Used share of the recordings volume, 0 to 1.")
		f.diskRate = d("vigil_disk_write_bytes_per_second", "How fast recordings write to the volume (smoothed).")
		f.diskTTF = d("vigil_disk_time_to_full_seconds", "When the volume fills at the current write rate; +Inf when it is not filling.")
		f.diskMinFree = d("vigil_disk_min_free_bytes", "Free space kept now: disk.min_free, raised to follow the write rate.")
		f.diskFloor = d("vigil_disk_hard_floor_bytes", "Free space under which recording pauses now: disk.hard_floor, raised to follow the write rate.")
		f.diskLow = d("vigil_disk_low", "1 during a low-space episode (free space under min_free in the last 30 s).")
		f.diskPaused = d("vigil_disk_recording_paused", "1 while recording is paused under the hard floor.")
	}
	if src.Retention != nil {
		f.retDeleted = d("vigil_retention_deleted_segments_total", "Segments deleted by the retention policy.")
		f.retBytes = d("vigil_retention_deleted_bytes_total", "Bytes deleted by the retention policy.")
		f.retByReason = d("vigil_retention_deleted_by_reason_total", "Segments deleted by the retention policy, by rule.", "reason")
	}
	if src.Uploads != nil {
		f.upQueue = d("vigil_upload_queue", "Segments waiting to be uploaded (or to be retried).")
		f.upInFlight = d("vigil_upload_in_flight", "Segments being uploaded.")
		f.upDone = d("vigil_upload_uploaded_total", "Segments uploaded and verified.")
		f.upFailed = d("vigil_upload_failures_total", "Upload attempts that failed.")
		f.upBytes = d("vigil_upload_bytes_total", "Bytes uploaded.")
		f.upLast = d("vigil_upload_last_duration_seconds", "Duration of the last successful upload.")
		f.upDuration = d("vigil_upload_duration_seconds", "Durations of successful uploads (sum and count).")
	}
	if src.Webhooks != nil {
		f.whDelivered = d("vigil_webhook_deliveries_total", "Webhook events delivered.")
		f.whFailed = d("vigil_webhook_failures_total", "Webhook delivery attempts that failed.")
		f.whDropped = d("vigil_webhook_dropped_total", "Webhook events given up.")
		f.whQueue = d("vigil_webhook_queue", "Webhook events waiting.")
	}
	if src.Pulls != nil {
		f.pulls = d("vigil_pulls", "Pulled streams by state.", "state")
	}
	if src.Limits != nil {
		f.limitRefusals = d("vigil_limit_refusals_total", "Requests refused by a limit (limits.*, pull.max_pulls), by limit.", "limit")
	}
	return f
}

// Describe implements prometheus.Collector.
func (f *features) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{f.diskFree, f.diskTotal, f.diskUsed, f.diskRate, f.diskTTF,
		f.diskMinFree, f.diskFloor, f.diskLow, f.diskPaused,
		f.retDeleted, f.retBytes, f.retByReason, f.upQueue, f.upInFlight, f.upDone, f.upFailed, f.upBytes,
		f.upLast, f.upDuration, f.whDelivered, f.whFailed, f.whDropped, f.whQueue, f.pulls, f.limitRefusals} {
		if d != nil {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector.
func (f *features) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if f.src.Disk != nil {
		s := f.src.Disk.DiskStats()
		gauge(f.diskFree, float64(s.Free))
		gauge(f.diskTotal, float64(s.Total))
		used := 0.0
		if s.Total > 0 {
			used = 1 - float64(min(s.Free, s.Total))/float64(s.Total)
		}
		gauge(f.diskUsed, used)
		gauge(f.diskRate, s.WriteRate)
		ttf := math.Inf(1)
		if s.TimeToFull >= 0 {
			ttf = s.TimeToFull.Seconds()
		}
		gauge(f.diskTTF, ttf)
		gauge(f.diskMinFree, float64(s.MinFree))
		gauge(f.diskFloor, float64(s.HardFloor))
		gauge(f.diskLow, boolFloat(s.Low))
		gauge(f.diskPaused, boolFloat(s.Paused))
	}
	if f.src.Retention != nil {
		s := f.src.Retention.RetentionStats()
		counter(f.retDeleted, float64(s.Deleted))
		counter(f.retBytes, float64(s.DeletedBytes))
		for _, r := range sortedKeys(s.ByReason) {
			counter(f.retByReason, float64(s.ByReason[r]), r)
		}
	}
	if f.src.Uploads != nil {
		s := f.src.Uploads.UploadStats()
		gauge(f.upQueue, float64(s.Queue))
		gauge(f.upInFlight, float64(s.InFlight))
		counter(f.upDone, float64(s.Uploaded))
		counter(f.upFailed, float64(s.Failures))
		counter(f.upBytes, float64(s.Bytes))
		gauge(f.upLast, s.Latency.Seconds())
		ch <- prometheus.MustNewConstSummary(f.upDuration, s.LatencyCount, s.LatencySum.Seconds(), nil)
	}
	if f.src.Webhooks != nil {
		s := f.src.Webhooks.WebhookStats()
		counter(f.whDelivered, float64(s.Delivered))
		counter(f.whFailed, float64(s.Failures))
		counter(f.whDropped, float64(s.Dropped))
		gauge(f.whQueue, float64(s.Queue))
	}
	if f.src.Pulls != nil {
		states := f.src.Pulls.PullStates()
		for _, st := range sortedKeys(states) {
			gauge(f.pulls, float64(states[st]), st)
		}
	}
	if f.src.Limits != nil {
		refused := f.src.Limits.LimitRefusals()
		for _, name := range sortedKeys(refused) {
			counter(f.limitRefusals, float64(refused[name]), name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
