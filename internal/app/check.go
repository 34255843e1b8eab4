package app

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/pull"
	"github.com/vigilrec/vigil/internal/tlsreload"
	"github.com/vigilrec/vigil/internal/upload"
)

// Check reports every problem of cfg that only the components' own parsers see (rotation,
// formats, file name template, disk thresholds, pulls, tokens and keys, certificates, the S3
// endpoint): what New would refuse. It binds nothing and creates nothing, so `vigil config check`
// runs it as well as `vigil serve`; config.Load has checked the rest.
func Check(cfg config.Config) error {
	discard := slog.New(slog.DiscardHandler)
	_, recErr := recorderConfig(cfg.Record)
	_, diskErr := guardConfig("", cfg.Disk)
	_, pullErr := pullSpecs(cfg)
	errs := []error{recErr, diskErr, pullErr}
	if len(cfg.Pull.AllowedSources) > 0 {
		if _, err := pull.NewManager(pull.Config{AllowedSources: cfg.Pull.AllowedSources}, nil, discard); err != nil {
			errs = append(errs, fmt.Errorf("pull.allowed_sources: %w", err))
		}
	}
	// The tokens are checked by config.Validate; the key files only the authenticator reads.
	if _, err := auth.New(auth.Config{PublicKeyFile: cfg.Auth.JWTPublicKeyFile, JWKSFile: cfg.Auth.JWTJWKSFile}); err != nil {
		errs = append(errs, err)
	}
	if cfg.TLS.Cert != "" && cfg.TLS.Key != "" {
		if _, err := tlsreload.New(cfg.TLS.Cert, cfg.TLS.Key, discard); err != nil {
			errs = append(errs, fmt.Errorf("tls.cert, tls.key: %w", err))
		}
	}
	if cfg.S3.Endpoint != "" {
		if _, err := upload.New(upload.Config{Endpoint: cfg.S3.Endpoint, Secure: cfg.S3.Secure, Region: cfg.S3.Region},
			nil, nil, discard); err != nil {
			errs = append(errs, fmt.Errorf("s3.endpoint: %w", err))
		}
	}
	return config.Collect(errors.Join(errs...))
}
