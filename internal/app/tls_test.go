package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/testutil"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost.
type testCert struct {
	certPEM, keyPEM []byte
	serial          *big.Int
	spkiHash        string // base64 SHA-256 of the public key, as Chromium's SPKI list wants
}

func newTestCert(t *testing.T, serial int64) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "vigil test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	sum := sha256.Sum256(spki)
	return testCert{certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serial: big.NewInt(serial), spkiHash: base64.StdEncoding.EncodeToString(sum[:])}
}

// install writes the pair as a rotation does: new files renamed over the old ones.
func (c testCert) install(t *testing.T, certFile, keyFile string) {
	t.Helper()
	for file, data := range map[string][]byte{keyFile: c.keyPEM, certFile: c.certPEM} {
		require.NoError(t, os.WriteFile(file+".new", data, 0o600))
		require.NoError(t, os.Rename(file+".new", file))
	}
}

// servedSerial is the serial number of the certificate the server presents now.
func servedSerial(addr string) (*big.Int, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reads the certificate, trusts nothing
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// HTTPS: Chromium publishes from the /publish page over https (a secure origin, where browsers
// give the camera), and the certificate is swapped while it publishes: the server presents the
// new one to new connections and the live session goes on.
func TestHTTPSPublishAndCertificateSwap(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium is not installed (%v)", err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first, second := newTestCert(t, 1), newTestCert(t, 2)
	first.install(t, certFile, keyFile)
	s := startServer(t, func(c *config.Config) { c.TLS.Cert, c.TLS.Key = certFile, keyFile })
	require.Contains(t, s.base, "https://")

	b := testutil.StartChromium(t, chromium,
		chromedp.Flag("ignore-certificate-errors-spki-list", first.spkiHash+","+second.spkiHash))
	defer b.Stop(t)
	page := s.base + "/publish?" + url.Values{"stream": {"tls-cam"}, "codec": {"VP8"}, "autostart": {"1"}}.Encode()
	navCtx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	require.NoError(t, chromedp.Do(navCtx, chromedp.Navigate(page)), "open %s", page)
	cancel()
	s.waitFor("the browser publishing over https", 45*time.Second, func() bool { return s.receiving("tls-cam") })

	addr := s.app.HTTPAddr().String()
	serial, err := servedSerial(addr)
	require.NoError(t, err)
	require.Equal(t, first.serial, serial)
	// The test's own client trusts the next certificate too (set before the swap, with no
	// request in flight).
	require.True(t, s.http.Transport.(*http.Transport).TLSClientConfig.RootCAs.AppendCertsFromPEM(second.certPEM))
	second.install(t, certFile, keyFile)
	s.waitFor("the new certificate served", 15*time.Second, func() bool {
		serial, err := servedSerial(addr)
		return err == nil && serial.Cmp(second.serial) == 0
	})
	frames := func() float64 {
		st, ok := s.stream("tls-cam")
		require.True(t, ok, "the live session was dropped")
		return st["video"].(map[string]any)["frames"].(float64)
	}
	before := frames()
	s.waitFor("the session still flowing after the swap", 15*time.Second, func() bool { return frames() > before+30 })
	require.Equal(t, "publishing", pageStatus(b))
}
