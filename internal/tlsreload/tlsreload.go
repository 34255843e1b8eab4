// Package tlsreload serves a certificate and key from files and picks up new ones when the files
// change (certificate rotation by certbot, cert-manager or a script), without a restart and
// without touching connections already open.
package tlsreload

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// checkEvery bounds how often the files are looked at: at most once per this, on a handshake.
const checkEvery = time.Second

// Reloader holds the current certificate.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	checkedAt time.Time
}

// New loads the pair; it fails when the files do not hold a valid certificate and key.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	certMod, keyMod, err := r.mtimes()
	if err != nil {
		return nil, err
	}
	if err := r.load(certMod, keyMod); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) mtimes() (time.Time, time.Time, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("tls certificate: %w", err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("tls key: %w", err)
	}
	return c.ModTime(), k.ModTime(), nil
}

func (r *Reloader) load(certMod, keyMod time.Time) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load tls certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.certMod, r.keyMod = &cert, certMod, keyMod
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the current certificate, reloaded first when a
// file changed. A pair that does not load (a half-written rotation) keeps the previous one.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checkedAt) >= checkEvery {
		r.checkedAt = now
		certMod, keyMod, err := r.mtimes()
		switch {
		case err != nil:
			r.log.Warn("tls: cannot read the certificate files; keeping the current certificate", "err", err)
		case !certMod.Equal(r.certMod) || !keyMod.Equal(r.keyMod):
			if err := r.load(certMod, keyMod); err != nil {
				r.log.Warn("tls: new certificate files do not load; keeping the current certificate", "err", err)
			} else {
				r.log.Info("tls: certificate reloaded", "file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

// Config is a server TLS configuration serving the reloaded certificate.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
