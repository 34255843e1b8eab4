package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/testutil"
	"github.com/vigilrec/vigil/internal/whip"
)

// clusterNode is a vigil process of a cluster test.
type clusterNode struct {
	id  string
	dir string // recordings
	*testutil.Vigil
}

func startClusterNode(t *testing.T, bin, redisURL, s3Endpoint, id string) clusterNode {
	t.Helper()
	httpPort, udpPort := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "udp")
	dir := t.TempDir()
	v := testutil.StartVigil(t, bin, dir, httpPort, udpPort, "--cluster-redis", redisURL, "--cluster-node", id,
		"--s3-endpoint", s3Endpoint, "--s3-bucket", testutil.S3Bucket, "--s3-access-key", testutil.S3AccessKey,
		"--s3-secret-key", testutil.S3SecretKey, "--s3-node", id)
	return clusterNode{id: id, dir: dir, Vigil: v}
}

// archiveView is GET /api/v1/recordings?cluster=true.
type archiveView struct {
	Recordings []struct {
		ID     string    `json:"id"`
		Key    string    `json:"key"`
		Node   string    `json:"node"`
		Stream string    `json:"stream"`
		Start  time.Time `json:"start"`
		End    time.Time `json:"end"`
	} `json:"recordings"`
	Total int `json:"total"`
}

// wcs posts a Web Call Server API call and returns the status and body.
func wcs(t *testing.T, base, call, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/rest-api/"+call, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getJSON asks base+path and decodes a 200 answer into v; it returns the status.
func getJSON(t *testing.T, base, path string, v any) int {
	t.Helper()
	resp, err := http.Get(base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusOK && v != nil {
		require.NoError(t, json.Unmarshal(body, v), string(body))
	}
	return resp.StatusCode
}

// streamNames lists the streams a node publishes.
func (n clusterNode) streamNames(t *testing.T) []string {
	t.Helper()
	var out struct {
		Streams []struct {
			Name string `json:"name"`
		} `json:"streams"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, n.Base, "/api/v1/streams", &out))
	names := make([]string, len(out.Streams))
	for i, s := range out.Streams {
		names[i] = s.Name
	}
	return names
}

// clusterView is GET /api/v1/cluster.
type clusterView struct {
	Self  string `json:"self"`
	Nodes []struct {
		ID      string `json:"id"`
		URL     string `json:"url"`
		Streams int    `json:"streams"`
	} `json:"nodes"`
}

func (v clusterView) ids() []string {
	out := make([]string, len(v.Nodes))
	for i, n := range v.Nodes {
		out[i] = n.ID
	}
	return out
}

// publishAudio publishes the built-in Opus tone to endpoint (base/whip/name), through the
// harness's publisher (retries included); it ends with the test.
func publishAudio(t *testing.T, api *webrtc.API, endpoint string) *publish.Session {
	t.Helper()
	base, name, ok := strings.Cut(endpoint, "/whip/")
	require.True(t, ok, endpoint)
	node := &testServer{t: t, base: base, api: api, http: &http.Client{}}
	return node.publishWith(name, media.H264, "240p", func(o *publish.Options) { o.Video = nil })
}

// TestClusterPlacesFailsAndSurvivesRedis runs three nodes on one Redis: thirty publishers all
// posting to node 1 are spread by load; a node killed with -9 leaves the registry within 10 s
// and its publishers, started again against node 1, land on the two others; with Redis down
// every node keeps its own streams and takes new publishers itself, cluster calls answer 503,
// and everything converges once Redis is back.
func TestClusterPlacesFailsAndSurvivesRedis(t *testing.T) {
	redis := testutil.StartRedis(t)
	bucket := testutil.StartS3(t)
	bin := testutil.BuildVigil(t)
	nodes := []clusterNode{
		startClusterNode(t, bin, redis.URL(), bucket.Endpoint, "node1"),
		startClusterNode(t, bin, redis.URL(), bucket.Endpoint, "node2"),
		startClusterNode(t, bin, redis.URL(), bucket.Endpoint, "node3"),
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	testutil.WaitFor(t, "three nodes registered", testutil.Scaled(15*time.Second), func() bool {
		var v clusterView
		return getJSON(t, n1.Base, "/api/v1/cluster", &v) == http.StatusOK && len(v.Nodes) == 3
	})
	api, err := rtc.NewClientAPI(testLogger(t))
	require.NoError(t, err)

	// a. Thirty publishers, all to node 1, a few at a time as cameras coming up would.
	const publishers = 30
	sessions := make([]*publish.Session, publishers)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 5)
	for i := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sessions[i] = publishAudio(t, api, fmt.Sprintf("%s/whip/cam-%02d", n1.Base, i))
		}()
	}
	wg.Wait()
	holder := map[string]string{} // stream → node id
	testutil.WaitFor(t, "every publisher's stream listed by its node", testutil.Scaled(30*time.Second), func() bool {
		clear(holder)
		for _, n := range nodes {
			for _, name := range n.streamNames(t) {
				holder[name] = n.id
			}
		}
		return len(holder) == publishers
	})
	counts := map[string]int{}
	for i, sess := range sessions {
		name := fmt.Sprintf("cam-%02d", i)
		counts[holder[name]]++
		u, err := url.Parse(sess.ResourceURL())
		require.NoError(t, err)
		for _, n := range nodes {
			if n.id == holder[name] {
				require.True(t, strings.HasPrefix(sess.ResourceURL(), n.Base+"/whip/"),
					"%s is on %s but its session is %s", name, n.id, u)
			}
		}
	}
	t.Logf("placement of %d publishers posted to node1: %v", publishers, counts)
	for _, n := range nodes {
		require.InDelta(t, publishers/3, counts[n.id], 3, "streams on %s: %v", n.id, counts)
	}

	// b. The brief's start/stop script, against node 2 only: find every stream, record each,
	// stop each. Every call reaches the stream's node.
	status, body := wcs(t, n2.Base, "stream/find_all", "")
	require.Equal(t, http.StatusOK, status, body)
	var found []struct {
		MediaSessionID string `json:"mediaSessionId"`
		Name           string `json:"name"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &found))
	require.Len(t, found, publishers, "stream/find_all on node2 lists the streams of every node")
	for _, st := range found {
		status, body := wcs(t, n2.Base, "stream/find", fmt.Sprintf(`{"name":%q}`, st.Name))
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, st.MediaSessionID)
		status, body = wcs(t, n2.Base, "stream/startRecording", fmt.Sprintf(`{"mediaSessionId":%q}`, st.MediaSessionID))
		require.Equal(t, http.StatusOK, status, "startRecording %s (on %s): %s", st.Name, holder[st.Name], body)
	}
	testutil.WaitFor(t, "recorder/find_all on node2 lists the 30 recordings", testutil.Scaled(15*time.Second), func() bool {
		status, body := wcs(t, n2.Base, "recorder/find_all", "")
		return status == http.StatusOK && strings.Count(body, "mediaSessionId") == publishers
	})
	time.Sleep(3 * time.Second) // a few seconds of media in every file
	for _, st := range found {
		status, body := wcs(t, n2.Base, "stream/stopRecording", fmt.Sprintf(`{"name":%q}`, st.Name))
		require.Equal(t, http.StatusOK, status, "stopRecording %s: %s", st.Name, body)
	}
	recorded := 0
	for _, n := range nodes {
		files, err := filepath.Glob(filepath.Join(n.dir, "cam-*.mp4"))
		require.NoError(t, err)
		for _, f := range files {
			name := strings.SplitN(filepath.Base(f), "_", 2)[0]
			require.Equal(t, n.id, holder[name], "%s recorded on the node that holds it", filepath.Base(f))
			p := testutil.FFprobe(t, f)
			require.Equal(t, []string{"opus"}, p.Codecs(), f)
			require.Greater(t, p.Duration, 1.0, f)
			recorded++
		}
	}
	require.Equal(t, publishers, recorded, "one valid file per stream")
	// The bucket is the archive of every node: node 3 lists all thirty, each with its node.
	var archive archiveView
	testutil.WaitFor(t, "the bucket lists the thirty recordings", testutil.Scaled(30*time.Second), func() bool {
		return getJSON(t, n3.Base, "/api/v1/recordings?cluster=true", &archive) == http.StatusOK && archive.Total == publishers
	})
	for _, rec := range archive.Recordings {
		require.Equal(t, holder[rec.Stream], rec.Node, "%s", rec.Key)
		require.True(t, strings.HasPrefix(rec.Key, rec.Node+"/"), rec.Key)
	}

	// c. A WHEP viewer on a node that does not hold the stream.
	video, err := publish.BuiltinVideo(media.H264, "240p")
	require.NoError(t, err)
	audio, err := publish.BuiltinAudio()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Scaled(60*time.Second))
	camera, err := publish.Start(ctx, publish.Options{Endpoint: n1.Base + "/whip/lobby", Video: video, Audio: audio,
		API: api, Log: testLogger(t), Client: &whip.Client{}})
	cancel()
	require.NoError(t, err)
	var watchFrom clusterNode
	for _, n := range nodes {
		if !strings.HasPrefix(camera.ResourceURL(), n.Base+"/") {
			watchFrom = n
		}
	}
	remote := &testServer{t: t, base: watchFrom.Base, api: api, http: &http.Client{}}
	v := remote.view("lobby")
	testutil.WaitFor(t, "2 s of video at the viewer on "+watchFrom.id, testutil.Scaled(20*time.Second), func() bool {
		_, pkts, _ := v.videoWithin(time.Hour)
		return len(pkts) > 0 && time.Duration(pkts[len(pkts)-1].Timestamp-pkts[0].Timestamp)*time.Second/90000 >= 2*time.Second
	})
	codec, pkts, firstAt := v.videoWithin(2 * time.Second)
	require.Equal(t, media.H264, codec)
	require.True(t, media.IsKeyframeStart(codec, pkts[0].Payload), "the first video packet starts a keyframe")
	t.Logf("viewer on %s of a stream of another node: first video %v after its offer", watchFrom.id,
		firstAt.Sub(v.joined).Round(10*time.Millisecond))
	require.Less(t, firstAt.Sub(v.joined), 2*time.Second)
	frames, errs := decode(t, writeVideo(t, codec, pkts))
	require.Empty(t, errs)
	require.GreaterOrEqual(t, frames, 45)
	require.NotContains(t, watchFrom.streamNames(t), "lobby", "the relay is no stream of its own")
	v.close()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	require.NoError(t, camera.Close(ctx))
	cancel()

	// d. Node 2 dies.
	killed := time.Now()
	require.NoError(t, n2.Cmd.Process.Kill())
	<-n2.Exited
	testutil.WaitFor(t, "node2 gone from the registry", 10*time.Second, func() bool {
		var v clusterView
		return getJSON(t, n1.Base, "/api/v1/cluster", &v) == http.StatusOK && !strings.Contains(strings.Join(v.ids(), ","), "node2")
	})
	t.Logf("node2 left the registry %v after its kill", time.Since(killed).Round(100*time.Millisecond))
	// Its finished segments stay listed, and playable, from the bucket through node 1.
	require.Equal(t, http.StatusOK, getJSON(t, n1.Base, "/api/v1/recordings?cluster=true", &archive))
	require.Equal(t, publishers, archive.Total)
	var ofNode2 []string
	playbackURL := ""
	for _, rec := range archive.Recordings {
		if rec.Node == "node2" {
			ofNode2 = append(ofNode2, rec.ID)
			playbackURL = fmt.Sprintf("%s/api/v1/playback?cluster=true&stream=%s&start=%s&end=%s", n1.Base, rec.Stream,
				url.QueryEscape(rec.Start.Format(time.RFC3339Nano)), url.QueryEscape(rec.End.Format(time.RFC3339Nano)))
		}
	}
	require.Len(t, ofNode2, counts["node2"])
	status, body = rawGet(t, n1.Base+"/api/v1/recordings/"+ofNode2[0])
	require.Equal(t, http.StatusOK, status)
	downloaded := filepath.Join(t.TempDir(), "from-bucket.mp4")
	require.NoError(t, os.WriteFile(downloaded, []byte(body), 0o644))
	require.Equal(t, []string{"opus"}, testutil.FFprobe(t, downloaded).Codecs())
	testutil.FFmpegDecode(t, downloaded)
	status, body = rawGet(t, playbackURL) // the playback endpoint reads the bucket too
	require.Equal(t, http.StatusOK, status, body)
	exported := filepath.Join(t.TempDir(), "export.mp4")
	require.NoError(t, os.WriteFile(exported, []byte(body), 0o644))
	p := testutil.FFprobe(t, exported)
	require.Equal(t, []string{"opus"}, p.Codecs())
	require.Greater(t, p.Duration, 1.0)
	testutil.FFmpegDecode(t, exported)
	var orphans []int
	for i := range sessions {
		if holder[fmt.Sprintf("cam-%02d", i)] == "node2" {
			orphans = append(orphans, i)
		}
	}
	for _, i := range orphans {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = sessions[i].Close(ctx) // the server is gone: only the client side ends
		cancel()
		sessions[i] = publishAudio(t, api, fmt.Sprintf("%s/whip/cam-%02d", n1.Base, i))
	}
	testutil.WaitFor(t, "node2's streams published again on nodes 1 and 3", testutil.Scaled(30*time.Second), func() bool {
		on := map[string]bool{}
		for _, n := range []clusterNode{n1, n3} {
			for _, name := range n.streamNames(t) {
				on[name] = true
			}
		}
		return len(on) == publishers
	})
	after := map[string]int{}
	for _, n := range []clusterNode{n1, n3} {
		after[n.id] = len(n.streamNames(t))
	}
	t.Logf("after node2's %d publishers came back through node1: %v", len(orphans), after)
	require.InDelta(t, publishers/2, after["node1"], 3, "%v", after)

	// e. Redis down for 10 s.
	redis.Stop()
	down := time.Now()
	testutil.WaitFor(t, "cluster calls answer 503", testutil.Scaled(5*time.Second), func() bool {
		return getJSON(t, n1.Base, "/api/v1/cluster", nil) == http.StatusServiceUnavailable
	})
	status, body = rawGet(t, n3.Base+"/api/v1/cluster")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Contains(t, body, "Redis")
	elsewhere := n3.streamNames(t)[0]
	status, body = wcs(t, n1.Base, "stream/startRecording", fmt.Sprintf(`{"name":%q}`, elsewhere))
	require.Equal(t, http.StatusServiceUnavailable, status, "a call about a stream of another node: %s", body)
	require.Contains(t, body, "Redis")
	require.Len(t, n1.streamNames(t), after["node1"], "node1 keeps its streams")
	require.Len(t, n3.streamNames(t), after["node3"], "node3 keeps its streams")
	extra := publishAudio(t, api, n1.Base+"/whip/cam-during-outage")
	require.True(t, strings.HasPrefix(extra.ResourceURL(), n1.Base+"/"), "taken by the node it was posted to")
	time.Sleep(time.Until(down.Add(10 * time.Second))) // the outage lasts its 10 s whatever the checks took
	redis.Start()
	testutil.WaitFor(t, "the cluster converges after Redis is back", testutil.Scaled(15*time.Second), func() bool {
		var v clusterView
		if getJSON(t, n3.Base, "/api/v1/cluster", &v) != http.StatusOK || len(v.Nodes) != 2 {
			return false
		}
		total := 0
		for _, n := range v.Nodes {
			total += n.Streams
		}
		return total == publishers+1
	})
	// The directory is whole again: a name published on node 3 is refused on node 1.
	var onNode3 string
	for _, name := range n3.streamNames(t) {
		onNode3 = name
		break
	}
	ctx, cancel = context.WithTimeout(context.Background(), testutil.Scaled(30*time.Second))
	defer cancel()
	_, err = publish.Start(ctx, publish.Options{Endpoint: n1.Base + "/whip/" + onNode3, Audio: audio, API: api,
		Log: testLogger(t), Client: &whip.Client{}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "409")
	require.Contains(t, err.Error(), "node3")
}

func rawGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
