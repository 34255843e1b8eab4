package whip

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactURL(t *testing.T) {
	require.Equal(t, "http://***@host:8081/whep/cam", RedactURL("http://user:pass@host:8081/whep/cam"))
	require.Equal(t, "https://***@host/x", RedactURL("https://token@host/x"))
	require.Equal(t, "http://host/x", RedactURL("http://host/x"))
}

// An error answer's body reaches the error, unless StatusOnly keeps it out.
func TestStatusOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"private detail"}`))
	}))
	defer srv.Close()
	_, err := (&Client{}).Offer(context.Background(), srv.URL+"/whep/x", "v=0")
	require.ErrorContains(t, err, "private detail")
	_, err = (&Client{StatusOnly: true}).Offer(context.Background(), srv.URL+"/whep/x", "v=0")
	require.ErrorContains(t, err, "server answered 403: Forbidden")
	require.NotContains(t, err.Error(), "private detail")
}
