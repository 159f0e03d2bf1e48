package idpharness

import (
	"context"
	"os"
	"testing"

	"github.com/enlace-auth/enlace/internal/testenv"
)

// IdP is a provider that Start runs for one test.
type IdP struct {
	// Issuer is the provider's issuer URL, http://127.0.0.1:<Port>.
	Issuer string
	// Port is the loopback port the provider listens on.
	Port int

	process *Process
}

// Output returns the provider's recent stderr, at most the last 64 KiB.
func (idp *IdP) Output() string {
	return idp.process.Output()
}

// Start runs the provider with clients and accounts until t ends. It skips
// t when Node.js or the npm install in e2e/idp is missing, and fails t
// instead when ENLACE_TEST_STRICT=1. With ENLACE_TEST_LOG=1 the provider's
// output also goes to stderr. When t fails, the cleanup logs that output.
func Start(t testing.TB, clients []Client, accounts []Account) *IdP {
	t.Helper()

	node, dir, err := Locate()
	if err != nil {
		testenv.Skip(t, "%v", err)
	}

	opts := Options{Dir: dir, Node: node, ConfigDir: t.TempDir()}
	if os.Getenv("ENLACE_TEST_LOG") == "1" {
		opts.Log = os.Stderr
	}
	process, err := StartProcess(context.Background(), clients, accounts, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("OpenID provider %s ready after %v", process.Issuer, process.StartupTime.Round(1e6))
	for _, retry := range process.Retries {
		t.Logf("OpenID provider start retried: %v", retry)
	}

	t.Cleanup(func() {
		if err := process.Stop(); err != nil {
			t.Errorf("%v\n%s", err, process.Output())
			return
		}
		if t.Failed() {
			t.Logf("OpenID provider output:\n%s", process.Output())
		}
	})
	return &IdP{Issuer: process.Issuer, Port: process.Port, process: process}
}
