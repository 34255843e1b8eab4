// Package testutil holds helpers shared by tests of several packages: a real S3-compatible server
// process (versitygw) to upload to, headless Chromium driven through chromedp, the built-in clips
// as frames, samples and segment tracks, and ffprobe/ffmpeg checks. Only tests import it.
package testutil

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 credentials of the test server.
const (
	S3AccessKey = "vigil-test"
	S3SecretKey = "vigil-test-secret"
	S3Bucket    = "recordings"
)

// S3Server is a versitygw process serving a temporary directory.
type S3Server struct {
	t        testing.TB
	bin      string
	dir      string
	Endpoint string // 127.0.0.1:PORT
	cmd      *exec.Cmd
	exited   chan struct{}
	Client   *minio.Client
}

// StartS3 starts versitygw on a free loopback port with a fresh bucket; it stops with the test.
// The test is skipped when versitygw is not installed (see Missing).
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin := NeedTool(t, "VERSITYGW", "versitygw")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := l.Addr().String()
	_ = l.Close()
	s := &S3Server{t: t, bin: bin, dir: t.TempDir(), Endpoint: endpoint}
	s.Start()
	t.Cleanup(s.Stop)
	s.Client, err = minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(S3AccessKey, S3SecretKey, ""),
		Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Client.MakeBucket(ctx, S3Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return s
}

// Start runs the server (again, after Stop) on the same port and directory, and waits until it
// accepts connections.
func (s *S3Server) Start() {
	s.t.Helper()
	log, err := os.OpenFile(filepath.Join(s.dir, "..", filepath.Base(s.dir)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(s.bin, "--access", S3AccessKey, "--secret", S3SecretKey, "--port", s.Endpoint, "posix", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		_ = log.Close()
		close(done)
	}(s.cmd, s.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Endpoint, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("versitygw exited at start")
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw not listening on %s after 30 s", s.Endpoint)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server (idempotent).
func (s *S3Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Objects lists the bucket's keys with their sizes.
func (s *S3Server) Objects(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for obj := range s.Client.ListObjects(ctx, S3Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return nil, obj.Err
		}
		out[obj.Key] = obj.Size
	}
	return out, nil
}

// Get reads an object whole.
func (s *S3Server) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.Client.GetObject(ctx, S3Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}
