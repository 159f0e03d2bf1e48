package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/platform"
)

// platformTokenCommand creates, lists and revokes platform API tokens.
func platformTokenCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "platform-token needs a subcommand: create, list or revoke"}
	}

	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens := platform.NewTokens(db, "", time.Now)

	fs := flag.NewFlagSet("platform-token "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "a name that says who or what uses the token")
	id := fs.String("id", "", "id of the token to revoke, from `enlace platform-token list`")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{msg: err.Error()}
	}

	switch args[0] {
	case "create":
		if *name == "" {
			return &usageError{msg: "platform-token create needs --name"}
		}
		token, stored, err := tokens.Create(ctx, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created platform token %s (id %s); it is shown only now:\n%s\n", stored.Name, stored.ID, token)
		return nil
	case "list":
		list, err := tokens.List(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tCREATED\tREVOKED")
		for _, t := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%t\n", t.ID, t.Name, t.CreatedAt.UTC().Format(time.RFC3339), t.Revoked)
		}
		return w.Flush()
	case "revoke":
		if *id == "" {
			return &usageError{msg: "platform-token revoke needs --id"}
		}
		if err := tokens.Revoke(ctx, *id); err != nil {
			return fmt.Errorf("revoke platform token %s: %w", *id, err)
		}
		fmt.Fprintf(stdout, "revoked platform token %s\n", *id)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown platform-token subcommand %q; use create, list or revoke", args[0])}
}
