// Command demo starts Enlace on the embedded default together with a local
// development OpenID provider (the npm package oidc-provider from e2e/idp),
// wired up so that "Sign in with SSO" works at once. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/enlace-auth/enlace/e2e/idpharness"
)

const (
	clientID     = "enlace-demo"
	clientSecret = "enlace-demo-secret-not-for-production"
)

// accounts are the demo users; the provider accepts any password.
var accounts = []idpharness.Account{
	{Login: "ada", Subject: "demo-ada", Claims: map[string]any{"email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace"}},
	{Login: "grace", Subject: "demo-grace", Claims: map[string]any{"email": "grace@example.com", "email_verified": false, "name": "Grace Hopper"}},
	{Login: "noemail", Subject: "demo-noemail", Claims: map[string]any{"name": "No Email"}},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// nodeVersion returns `node --version`, for error messages.
func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "node (version unknown: " + err.Error() + ")"
	}
	return "node " + strings.TrimSpace(string(out))
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	port := 8080
	if v := os.Getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("PORT %q is not a number", v)
		}
		port = p
	}
	base := "http://localhost:" + strconv.Itoa(port)

	idp, err := idpharness.StartProcess(ctx, []idpharness.Client{{
		ID: clientID, Secret: clientSecret, RedirectURIs: []string{base + "/api/v1/auth/oidc/callback"},
	}}, accounts, idpharness.Options{})
	if err != nil {
		if _, statErr := os.Stat(filepath.Join("e2e", "idp", "node_modules", "oidc-provider")); statErr != nil {
			return fmt.Errorf("start the OpenID provider (run `npm ci --prefix e2e/idp` first): %w", err)
		}
		return fmt.Errorf("start the OpenID provider with %s: %w", nodeVersion(), err)
	}
	defer idp.Stop()
	for _, retry := range idp.Retries {
		fmt.Fprintf(os.Stderr, "demo: OpenID provider start retried: %v\n", retry)
	}

	binary := filepath.Join(os.TempDir(), "enlace-demo")
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/enlace")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build enlace: %w", err)
	}

	fmt.Printf(`
Enlace demo
  Enlace:            %s/login
  OpenID provider:   %s
  Sign in with SSO as ada (verified email), grace (unverified email) or
  noemail (no email claim); the provider accepts any password.
  Data is kept in ./data-demo. Stop with Ctrl-C.

`, base, idp.Issuer)

	enlace := exec.CommandContext(ctx, binary, "serve")
	enlace.Stdout, enlace.Stderr = os.Stdout, os.Stderr
	enlace.Env = append(os.Environ(),
		"PORT="+strconv.Itoa(port),
		"BASE_URL="+base,
		"DATABASE_PATH=./data-demo/enlace.db",
		"LOG_FORMAT=text",
		"OIDC_ENABLED=true",
		"OIDC_ISSUER_URL="+idp.Issuer,
		"OIDC_CLIENT_ID="+clientID,
		"OIDC_CLIENT_SECRET="+clientSecret,
	)
	enlace.Cancel = func() error { return enlace.Process.Signal(syscall.SIGTERM) }
	if err := enlace.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("enlace: %w", err)
	}
	return nil
}
