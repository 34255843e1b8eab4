package metrics

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/recorder"
)

// core is the scrape-time collector of streams, recordings, the media socket, and the Web Call
// Server families. One pass over the streams feeds both the native and the WCS series, so they
// always agree within a scrape.
type core struct {
	cfg Config
	src Sources
	det *Detector

	// Aggregates over every stream.
	streamsIn, streamsPending, streamsOut, subscribers *prometheus.Desc
	degraded, degradedReason, mediaIn                  *prometheus.Desc
	seriesLimit, omitted                               *prometheus.Desc
	// Per stream (capped).
	info, packets, bytes, lost, bitrate, fps, keyframes *prometheus.Desc
	nacks, plis, subs, subDrops, streamDegraded         *prometheus.Desc
	// Recorder.
	recorders, recordersActive, writes, written, segments, writeErrors *prometheus.Desc
	// Recorder loss handling: totals, and per recorded stream (capped).
	lossPackets, holesFilled, framesRecovered, framesDropped, framesSkipped *prometheus.Desc
	keyframeWaits, skipped, discontinuities                                 *prometheus.Desc
	recFramesDropped, recFramesRecovered, recSkipped                        *prometheus.Desc
	// Media socket.
	udpBuffer, udpDrops *prometheus.Desc
	// WCS families.
	wcsStreams, wcsDegraded, wcsRecording, wcsCore, wcsGC *prometheus.Desc
}

func newCore(cfg Config, src Sources, det *Detector) *core {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	c := &core{cfg: cfg, src: src, det: det,
		streamsIn:      d("vigil_streams_in", "Incoming streams with media flowing (WHIP publishers and pulls)."),
		streamsPending: d("vigil_streams_pending", "Incoming streams announced but with no media yet."),
		subscribers:    d("vigil_subscribers", "Hub subscribers of all streams: viewers and recorders."),
		degraded:       d("vigil_streams_degraded", "Incoming streams degraded now (any reason)."),
		degradedReason: d("vigil_streams_degraded_by_reason", "Incoming streams degraded now, by reason.", "reason"),
		mediaIn:        d("vigil_media_in_bits_per_second", "RTP payload bitrate of all incoming streams over the last whole second."),
		seriesLimit:    d("vigil_metrics_stream_series_limit", "Streams that get per-stream series at most (metrics.stream_series)."),
		omitted:        d("vigil_metrics_streams_omitted", "Live streams left without per-stream series because of the limit."),

		info:           d("vigil_stream_info", "A live stream and its codecs (value 1).", "stream", "video_codec", "audio_codec"),
		packets:        d("vigil_stream_packets_total", "RTP packets received.", "stream", "kind"),
		bytes:          d("vigil_stream_bytes_total", "RTP payload bytes received.", "stream", "kind"),
		lost:           d("vigil_stream_lost_packets", "Packets lost for good so far (falls when a late retransmission arrives).", "stream", "kind"),
		bitrate:        d("vigil_stream_bitrate_bits_per_second", "RTP payload bitrate over the last whole second.", "stream", "kind"),
		fps:            d("vigil_stream_fps", "Video frames per second over the last whole second.", "stream"),
		keyframes:      d("vigil_stream_keyframes_total", "Video keyframes received.", "stream"),
		nacks:          d("vigil_stream_nacks_total", "Packets the server asked the publisher to retransmit (NACK).", "stream"),
		plis:           d("vigil_stream_plis_total", "Keyframe requests (PLI/FIR) sent to the publisher.", "stream"),
		subs:           d("vigil_stream_subscribers", "Subscribers of the stream: viewers and its recorder.", "stream"),
		subDrops:       d("vigil_stream_subscriber_dropped_packets", "Packets the stream's current subscribers lost because their queue was full.", "stream"),
		streamDegraded: d("vigil_stream_degraded", "1 for each reason the stream is degraded now; absent when it is not.", "stream", "reason"),

		udpBuffer: d("vigil_udp_receive_buffer_bytes", "Kernel receive buffer of the media socket."),
		udpDrops:  d("vigil_udp_receive_drops_total", "Datagrams the kernel dropped on the media socket because its buffer was full."),

		wcsStreams:   d("streams_stats", "Web Call Server compatible stream counts.", "param"),
		wcsDegraded:  d("degraded_streams_stats", "Web Call Server compatible degraded stream count and percent.", "param"),
		wcsRecording: d("recording_stats", "Web Call Server compatible recording count.", "param"),
		wcsCore:      d("core_stats", "Web Call Server compatible system figures: memory in bytes, goroutines as threads.", "param"),
		wcsGC:        d("gc_stats", "Web Call Server compatible garbage collector figures.", "param"),
	}
	if src.Viewers != nil {
		c.streamsOut = d("vigil_streams_out", "Outgoing streams: WHEP viewing sessions.")
	}
	if src.Recorders != nil {
		c.recorders = d("vigil_recorders", "Recordings by state.", "state")
		c.recordersActive = d("vigil_recorders_active", "Open recordings (recording or paused; not those waiting for their stream).")
		c.writes = d("vigil_recorder_writes_total", "Write calls on segment files.")
		c.written = d("vigil_recorder_bytes_written_total", "Bytes written to segment files.")
		c.segments = d("vigil_recorder_segments_closed_total", "Segment files made final.")
		c.writeErrors = d("vigil_recorder_write_errors_total", "Write, seek and commit calls on segment files that failed.")
		c.lossPackets = d("vigil_recorder_packets_lost_total", "RTP packets recordings gave up waiting for (never received in time).")
		c.holesFilled = d("vigil_recorder_holes_filled_total", "Out-of-order packets (retransmissions) that arrived in time to complete their frame.")
		c.framesRecovered = d("vigil_recorder_frames_recovered_total", "Frames written whole thanks to retransmitted or reordered packets.")
		c.framesDropped = d("vigil_recorder_frames_dropped_total", "Video frames dropped as incomplete (never written broken).")
		c.framesSkipped = d("vigil_recorder_frames_skipped_total", "Whole video frames skipped while waiting for a keyframe after a dropped one.")
		c.keyframeWaits = d("vigil_recorder_keyframe_waits_total", "Waits for a keyframe after a dropped video frame.")
		c.skipped = d("vigil_recorder_skipped_seconds_total", "Video time skipped waiting for keyframes.")
		c.discontinuities = d("vigil_recorder_discontinuities_total", "New segments started because a track's timeline broke (encoder restart, stall, new source).")
		c.recFramesDropped = d("vigil_recording_frames_dropped_total", "Video frames the stream's recording dropped as incomplete.", "stream")
		c.recFramesRecovered = d("vigil_recording_frames_recovered_total", "Frames the stream's recording wrote whole thanks to retransmissions.", "stream")
		c.recSkipped = d("vigil_recording_skipped_seconds_total", "Video time the stream's recording skipped waiting for keyframes.", "stream")
	}
	return c
}

func (c *core) descs() []*prometheus.Desc {
	all := []*prometheus.Desc{c.streamsIn, c.streamsPending, c.streamsOut, c.subscribers, c.degraded,
		c.degradedReason, c.mediaIn, c.seriesLimit, c.omitted, c.info, c.packets, c.bytes, c.lost, c.bitrate,
		c.fps, c.keyframes, c.nacks, c.plis, c.subs, c.subDrops, c.streamDegraded, c.recorders,
		c.recordersActive, c.writes, c.written, c.segments, c.writeErrors, c.lossPackets, c.holesFilled,
		c.framesRecovered, c.framesDropped, c.framesSkipped, c.keyframeWaits, c.skipped, c.discontinuities,
		c.recFramesDropped, c.recFramesRecovered, c.recSkipped, c.wcsStreams, c.wcsDegraded,
		c.wcsRecording, c.wcsCore, c.wcsGC}
	if c.src.Socket != nil {
		all = append(all, c.udpBuffer, c.udpDrops)
	}
	out := all[:0]
	for _, d := range all {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Describe implements prometheus.Collector.
func (c *core) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// tally is what one pass over the streams adds up.
type tally struct {
	in, pending, subscribers, degraded int
	byReason                           map[string]int
	bitrate                            float64
}

// Collect implements prometheus.Collector.
func (c *core) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	var statuses []recorder.Status
	var health map[string]recorder.Health
	if c.src.Recorders != nil {
		statuses = c.src.Recorders.Active()
		health = c.src.Recorders.Health()
	}
	t := c.collectStreams(ch, health)

	gauge(c.streamsIn, float64(t.in))
	gauge(c.streamsPending, float64(t.pending))
	gauge(c.subscribers, float64(t.subscribers))
	gauge(c.degraded, float64(t.degraded))
	for _, r := range AllReasons() {
		gauge(c.degradedReason, float64(t.byReason[r]), r)
	}
	gauge(c.mediaIn, t.bitrate)
	gauge(c.seriesLimit, float64(max(c.cfg.StreamSeries, 0)))
	gauge(c.omitted, float64(max(t.in+t.pending-max(c.cfg.StreamSeries, 0), 0)))
	viewers := 0
	if c.src.Viewers != nil {
		viewers = c.src.Viewers.Count()
		gauge(c.streamsOut, float64(viewers))
	}

	open := 0
	if c.src.Recorders != nil {
		byState := map[recorder.State]int{recorder.StateRecording: 0, recorder.StateWaiting: 0}
		for _, s := range statuses {
			byState[s.State]++
			if s.State != recorder.StateWaiting {
				open++
			}
		}
		for st, n := range byState {
			gauge(c.recorders, float64(n), string(st))
		}
		gauge(c.recordersActive, float64(open))
		st := c.src.Recorders.Stats()
		counter(c.writes, float64(st.Writes))
		counter(c.written, float64(st.BytesWritten))
		counter(c.segments, float64(st.SegmentsClosed))
		counter(c.writeErrors, float64(st.WriteErrors))
		c.collectLoss(ch, st.Loss, statuses)
	}
	if c.src.Socket != nil {
		udp, err := c.src.Socket.UDPStats()
		gauge(c.udpBuffer, float64(udp.ReceiveBuffer))
		if err == nil {
			counter(c.udpDrops, float64(udp.Drops))
		}
	}

	// The Web Call Server families.
	gauge(c.wcsStreams, float64(t.in), "streams_webrtc_in")
	gauge(c.wcsStreams, float64(viewers), "streams_webrtc_out")
	gauge(c.wcsStreams, float64(viewers), "streams_viewers")
	gauge(c.wcsDegraded, float64(t.degraded), "degraded_streams")
	percent := 0.0
	if t.in > 0 {
		percent = 100 * float64(t.degraded) / float64(t.in)
	}
	gauge(c.wcsDegraded, percent, "degraded_streams_percent")
	gauge(c.wcsRecording, float64(open), "recording_sessions")
	if mem, err := readMeminfo(); err == nil {
		gauge(c.wcsCore, float64(mem.free), "core_java_freePhysicalMemorySize")
		gauge(c.wcsCore, float64(mem.total), "core_java_totalPhysicalMemorySize")
	}
	gauge(c.wcsCore, float64(runtime.NumGoroutine()), "core_threads")
	gauge(c.wcsGC, float64(lastGCPause())/float64(time.Millisecond), "gc_last_pause_ms")
}

// collectStreams sends the per-stream series of the first StreamSeries streams and adds up
// every stream.
func (c *core) collectStreams(ch chan<- prometheus.Metric, health map[string]recorder.Health) tally {
	t := tally{byReason: make(map[string]int, 8)}
	now := c.det.now()
	for i, st := range c.src.Streams.List() {
		snap := st.Snapshot()
		t.subscribers += snap.Subscribers
		if !snap.Publishing() {
			t.pending++
		} else {
			t.in++
		}
		h, recorded := health[snap.Name]
		reasons := c.det.reasons(snap, h, recorded, now)
		if len(reasons) > 0 {
			t.degraded++
			for _, r := range reasons {
				t.byReason[r]++
			}
		}
		for _, tr := range []*hub.TrackStats{snap.Video, snap.Audio} {
			if tr != nil {
				t.bitrate += tr.Bitrate
			}
		}
		if i < c.cfg.StreamSeries {
			c.streamSeries(ch, snap, reasons)
		}
	}
	return t
}

func (c *core) streamSeries(ch chan<- prometheus.Metric, snap hub.Snapshot, reasons []string) {
	name := snap.Name
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	videoCodec, audioCodec := "", ""
	for _, tr := range []*hub.TrackStats{snap.Video, snap.Audio} {
		if tr == nil {
			continue
		}
		var kind string
		if tr == snap.Video {
			kind, videoCodec = kindOf(media.KindVideo), string(tr.Codec)
			gauge(c.fps, tr.FPS, name)
			counter(c.keyframes, float64(tr.Keyframes), name)
		} else {
			kind, audioCodec = kindOf(media.KindAudio), string(tr.Codec)
		}
		counter(c.packets, float64(tr.Packets), name, kind)
		counter(c.bytes, float64(tr.Bytes), name, kind)
		gauge(c.lost, float64(tr.Lost), name, kind)
		gauge(c.bitrate, tr.Bitrate, name, kind)
	}
	gauge(c.info, 1, name, videoCodec, audioCodec)
	counter(c.nacks, float64(snap.NACKs), name)
	counter(c.plis, float64(snap.PLIs), name)
	gauge(c.subs, float64(snap.Subscribers), name)
	gauge(c.subDrops, float64(snap.SubscriberDrops), name)
	for _, r := range reasons {
		gauge(c.streamDegraded, 1, name, r)
	}
}

// collectLoss sends the recorder's loss totals, and the loss series of the first StreamSeries
// recordings.
func (c *core) collectLoss(ch chan<- prometheus.Metric, l recorder.Loss, statuses []recorder.Status) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	counter(c.lossPackets, float64(l.PacketsLost))
	counter(c.holesFilled, float64(l.HolesFilled))
	counter(c.framesRecovered, float64(l.FramesRecovered))
	counter(c.framesDropped, float64(l.FramesDropped))
	counter(c.framesSkipped, float64(l.FramesSkipped))
	counter(c.keyframeWaits, float64(l.KeyframeWaits))
	counter(c.skipped, l.Skipped.Seconds())
	counter(c.discontinuities, float64(l.Discontinuities))
	for i, s := range statuses {
		if i >= c.cfg.StreamSeries {
			break
		}
		counter(c.recFramesDropped, float64(s.Loss.FramesDropped), s.Stream)
		counter(c.recFramesRecovered, float64(s.Loss.FramesRecovered), s.Stream)
		counter(c.recSkipped, s.Loss.Skipped.Seconds(), s.Stream)
	}
}
