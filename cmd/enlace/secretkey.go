package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/secretbox"
	"github.com/enlace-auth/enlace/tenant"
)

// errUnreadableSecrets means some stored secrets open under none of the
// configured keys, so the rotation could not move them.
var errUnreadableSecrets = errors.New("some stored secrets do not decrypt under ENLACE_SECRET_KEY or ENLACE_SECRET_KEY_PREVIOUS")

// secretKeyCommand runs operator actions on ENLACE_SECRET_KEY. The only one
// is rotate, which seals every stored secret again under the current key.
func secretKeyCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "rotate" {
		return &usageError{msg: "secret-key needs the subcommand rotate and no arguments"}
	}

	box, err := openSecretBox(cfg, log)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	totpReport, err := accounts.ResealTOTPSecrets(ctx, db, box)
	if err != nil {
		return err
	}
	printReport(stdout, "TOTP secrets", "users", totpReport)

	clientReport, err := tenant.ResealClientSecrets(ctx, db, box)
	if err != nil {
		return err
	}
	printReport(stdout, "identity provider client secrets", "tenants", clientReport)

	// Recovery codes are stored as keyed hashes, which cannot be moved to
	// another key without the codes themselves.
	users, err := db.UsersWithRecoveryCodes(ctx)
	if err != nil {
		return err
	}
	if users > 0 {
		fmt.Fprintf(stdout, "%d users have unused recovery codes: codes made before the key change match only while "+
			"their key is in ENLACE_SECRET_KEY_PREVIOUS, until the users regenerate them\n", users)
	}

	if len(totpReport.Unreadable) > 0 || len(clientReport.Unreadable) > 0 {
		return fmt.Errorf("%w: add the key that sealed them to ENLACE_SECRET_KEY_PREVIOUS and run `enlace secret-key rotate` again, "+
			"or reset them (`enlace user reset-2fa`, `enlace tenant oidc set --client-secret`)", errUnreadableSecrets)
	}
	return nil
}

// printReport writes one line about a kind of stored secret, and a second
// line with the owners of values that no key opens.
func printReport(w io.Writer, kind, owners string, r secretbox.Report) {
	fmt.Fprintf(w, "%s: %d checked, %d sealed again under the current key\n", kind, r.Checked, r.Resealed)
	if len(r.Unreadable) > 0 {
		fmt.Fprintf(w, "%s: %d do not decrypt under any configured key, for %s %s\n",
			kind, len(r.Unreadable), owners, strings.Join(r.Unreadable, ", "))
	}
}
