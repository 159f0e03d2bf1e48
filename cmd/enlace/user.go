package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/store/sqlstore"
	"github.com/enlace-auth/enlace/tenant"
)

// userCommand holds operator actions on one user; today only reset-2fa,
// for a user who lost both the authenticator and the recovery codes.
func userCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "reset-2fa" {
		return &usageError{msg: "user needs a subcommand: reset-2fa"}
	}

	fs := flag.NewFlagSet("user reset-2fa", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("slug", tenant.DefaultSlug, "tenant slug")
	email := fs.String("email", "", "email address of the user")
	userID := fs.String("user-id", "", "id of the user, as `enlace secret-key rotate` prints it")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{msg: err.Error()}
	}
	if (*email == "") == (*userID == "") {
		return &usageError{msg: "user reset-2fa needs --email or --user-id (one of them)"}
	}

	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	t, err := db.TenantBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("%w: no tenant with slug %q", tenant.ErrInvalid, *slug)
	}
	u, err := findUser(ctx, db, t, *email, *userID)
	if err != nil {
		return err
	}

	if err := db.DisableTOTP(ctx, t.ID, u.ID); err != nil {
		return err
	}
	audit.NewRecorder(db, log, time.Now).Record(ctx, audit.Event{
		TenantID: t.ID, UserID: u.ID, Type: "2fa.reset_by_operator", Details: map[string]string{"via": "cli"},
	})

	// Running replicas drop the user's cached sessions, which carry the
	// 2FA flag, when Redis carries the notice.
	if cfg.RedisURL != "" {
		if r, err := kv.NewRedis(cfg.RedisURL, redisKeyPrefix, log); err == nil {
			_ = r.Publish(ctx, accounts.SessionInvalidationChannel, "u:"+u.ID)
			r.Close()
		}
	}
	fmt.Fprintf(stdout, "removed the TOTP secret and recovery codes of user %s in tenant %s\n", u.ID, t.Slug)
	return nil
}

// findUser looks a user of t up by email, or by id when email is empty.
func findUser(ctx context.Context, db *sqlstore.DB, t tenant.Tenant, email, id string) (accounts.User, error) {
	if email == "" {
		if _, err := uuid.Parse(id); err != nil {
			return accounts.User{}, &usageError{msg: fmt.Sprintf("--user-id %q is not a user id, which is a UUID", id)}
		}
		u, err := db.UserByID(ctx, t.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return accounts.User{}, fmt.Errorf("%w: no user with id %q in tenant %s", store.ErrNotFound, id, t.Slug)
		}
		return u, err
	}

	u, err := db.UserByEmail(ctx, t.ID, accounts.NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		return accounts.User{}, fmt.Errorf("%w: no user with email %q in tenant %s", store.ErrNotFound, email, t.Slug)
	}
	return u, err
}
