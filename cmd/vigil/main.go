// Command vigil is a WebRTC recording server. See README.md.
package main

import (
	"context"
	"os"

	"github.com/vigilrec/vigil/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
