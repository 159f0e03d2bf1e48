// Package browsertest starts headless Chromium for end-to-end tests.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/enlace-auth/enlace/internal/testenv"
)

// ChromiumEnv names the variable that overrides the browser path.
const ChromiumEnv = "ENLACE_TEST_CHROMIUM"

// defaultChromium is the path of Debian's chromium package.
const defaultChromium = "/usr/bin/chromium"

// ChromiumPath returns the browser to drive, or skips t when it is missing.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv(ChromiumEnv)
	if path == "" {
		path = defaultChromium
	}

	resolved, err := exec.LookPath(path)
	if err != nil {
		testenv.Skip(t, "Chromium not found: %v; install the chromium package or set %s to the browser's path", err, ChromiumEnv)
	}
	return resolved
}

// Start starts a headless Chromium with a fresh profile and returns its
// tab's context. The context ends after timeout, which closes the browser,
// so a hung step fails the test instead of blocking it. The browser closes
// before the cleanups that t registered earlier, such as a server's
// shutdown.
func Start(t testing.TB, path string, timeout time.Duration) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// These flags stop the connections that Chromium opens to outside
		// hosts on its own, such as component updates and sync, so the test
		// reaches only its loopback servers.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}

	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})

	// The first Do starts the browser, so a launch failure shows here and
	// not as the failure of the first page step.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium at %s: %v", path, err)
	}
	return ctx
}
