package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/internal/browsertest"
)

// chromiumPath returns the browser to drive, or skips t when it is missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	return browsertest.ChromiumPath(t)
}

// startBrowser starts a headless Chromium; see browsertest.Start.
func startBrowser(t *testing.T, path string, timeout time.Duration) context.Context {
	t.Helper()
	return browsertest.Start(t, path, timeout)
}
