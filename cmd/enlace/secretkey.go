package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/secretbox"
	"github.com/enlace-auth/enlace/tenant"
)

var (
	_ accounts.Resealer = (*secretbox.Box)(nil)
	_ tenant.Resealer   = (*secretbox.Box)(nil)
)

// errUnreadableSecrets means some stored secrets open under none of the
// configured keys, so the rotation could not move them.
var errUnreadableSecrets = errors.New("some stored secrets do not decrypt under the current secret key " +
	"(ENLACE_SECRET_KEY, or the key file in the data folder when it is unset) or ENLACE_SECRET_KEY_PREVIOUS")

// secretKeyCommand runs operator actions on ENLACE_SECRET_KEY. The only one
// is rotate, which seals every stored secret again under the current key.
func secretKeyCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "rotate" {
		return &usageError{msg: "secret-key needs the subcommand rotate and no arguments"}
	}

	box, key, err := openSecretBox(cfg, log)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	tenants, err := db.ListTenants(ctx)
	if err != nil {
		return err
	}
	slugs := make(map[string]string, len(tenants))
	for _, t := range tenants {
		slugs[t.ID] = t.Slug
	}

	totpReport, err := accounts.ResealTOTPSecrets(ctx, db, box)
	if err != nil {
		return err
	}
	printReport(stdout, "TOTP secrets", totpReport)
	for _, o := range totpReport.Unreadable {
		fmt.Fprintf(stdout, "  user %s in tenant %s: reset it with `enlace user reset-2fa --slug %s --user-id %s`\n",
			o.UserID, slugs[o.TenantID], slugs[o.TenantID], o.UserID)
	}

	clientReport, err := tenant.ResealClientSecrets(ctx, db, box)
	if err != nil {
		return err
	}
	printReport(stdout, "identity provider client secrets", clientReport)
	for _, o := range clientReport.Unreadable {
		fmt.Fprintf(stdout, "  tenant %s: set it again with `enlace tenant oidc set --slug %s … --client-secret …`\n",
			slugs[o.TenantID], slugs[o.TenantID])
	}

	// Recovery codes are stored as keyed hashes, which cannot be moved to
	// another key without the codes themselves.
	old, err := accounts.UsersWithOldRecoveryCodes(ctx, db, accounts.RecoveryKeys(key, nil)[0])
	if err != nil {
		return err
	}
	if old == 0 {
		fmt.Fprintln(stdout, "recovery codes: every unused code is under the current key")
	} else {
		fmt.Fprintf(stdout, "recovery codes: %s unused codes made under an older key; those codes match only while "+
			"that key is in ENLACE_SECRET_KEY_PREVIOUS, until the users regenerate them\n", usersHave(old))
	}

	if len(totpReport.Unreadable) > 0 || len(clientReport.Unreadable) > 0 {
		return fmt.Errorf("%w: add the key that sealed them to ENLACE_SECRET_KEY_PREVIOUS and run "+
			"`enlace secret-key rotate` again, or reset them as listed above", errUnreadableSecrets)
	}
	return nil
}

// printReport writes one line about a kind of stored secret.
func printReport(w io.Writer, kind string, r secretbox.Report) {
	fmt.Fprintf(w, "%s: %d checked, %d sealed again under the current key", kind, r.Checked, r.Resealed)
	if len(r.Unreadable) > 0 {
		fmt.Fprintf(w, ", %d do not decrypt under any configured key:", len(r.Unreadable))
	}
	fmt.Fprintln(w)
}

func usersHave(n int) string {
	if n == 1 {
		return "1 user has"
	}
	return fmt.Sprintf("%d users have", n)
}
