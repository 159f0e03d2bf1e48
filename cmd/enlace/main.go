// Command enlace runs the Enlace sign-in service and its admin tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/internal/logctx"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

const usage = `Usage: enlace [command]

Commands:
  serve                      run the HTTP server (the default)
  migrate                    apply database migrations and exit
  tenant create --slug S [--name N] [--domain D ...]
                             create a tenant with its custom domains
  tenant list                list tenants and their domains
  tenant oidc set --slug S --issuer URL --client-id ID [--client-secret X]
                  [--redirect-url URL] [--scopes "openid email profile"]
                  [--disabled] [--insecure-trust-email]
                             set a tenant's identity provider (runs discovery first)
  tenant oidc show|delete --slug S
                             show (secret redacted) or delete it

  platform-token create --name N
                             create a platform API token (printed once)
  platform-token list        list platform tokens
  platform-token revoke --id ID
                             revoke a platform token
  user reset-2fa --email E|--user-id ID [--slug S]
                             remove a user's TOTP secret and recovery codes
  secret-key rotate          seal stored secrets again under ENLACE_SECRET_KEY
                             (list the old key in ENLACE_SECRET_KEY_PREVIOUS)

Configuration comes from environment variables; see the README.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code: 0 on
// success, 1 on a runtime failure, 2 on bad usage or configuration.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	command := "serve"
	if len(args) > 0 {
		command, args = args[0], args[1:]
	}
	if command == "help" || command == "-h" || command == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}

	cfg, err := config.Load(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "enlace: invalid configuration:\n")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  - %s\n", line)
		}
		return 2
	}
	log := logctx.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel)

	switch command {
	case "serve":
		err = serve(ctx, cfg, log)
	case "migrate":
		err = migrateOnly(ctx, cfg, log, stdout)
	case "tenant":
		err = tenantCommand(ctx, cfg, log, args, stdout)
	case "platform-token":
		err = platformTokenCommand(ctx, cfg, log, args, stdout)
	case "user":
		err = userCommand(ctx, cfg, log, args, stdout)
	case "secret-key":
		err = secretKeyCommand(ctx, cfg, log, args, stdout)
	default:
		fmt.Fprintf(stderr, "enlace: unknown command %q\n\n%s", command, usage)
		return 2
	}

	var usageErr *usageError
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "enlace: %v\n\n%s", err, usage)
		return 2
	case errors.Is(err, tenant.ErrInvalid), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound), errors.Is(err, tenant.ErrNoIdP):
		fmt.Fprintf(stderr, "enlace: %v\n", err)
		return 2
	case errors.Is(err, errUnreadableSecrets):
		fmt.Fprintf(stderr, "enlace: %v\n", err)
		return 1
	case err != nil:
		log.Error("enlace stopped", "command", command, "error", err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
