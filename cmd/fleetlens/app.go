package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/collector/auth"
	"github.com/fleetlens/fleetlens/internal/pg"
)

// appIDRE mirrors the CHECK on apps.id (001_foundation.sql) so the error names the rule.
var appIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

func newAppCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "app create ID | token ID | revoke ID TOKEN",
		Short: "Manage apps and their ingest tokens",
		Long: `An app is what the collector stores telemetry under (its bundle id or package name).
Each app has ingest tokens that its SDKs send as "Authorization: Bearer <token>". A token is
printed once, on the last line of output, and stored only as a SHA-256 digest.`,
		Example: "  fleetlens app create com.example.shop\n  TOKEN=$(fleetlens app token com.example.shop | tail -1)",
	}
	c.AddCommand(newAppCreateCmd(), newAppTokenCmd(), newAppRevokeCmd())
	return c
}

func newAppCreateCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "create ID",
		Short:   "Create an app and print its first ingest token (last line)",
		Example: "  fleetlens app create com.example.shop --name \"Example Shop\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if !appIDRE.MatchString(id) {
				return fmt.Errorf("app id %q: use 1-200 letters, digits, '.', '_' or '-' (e.g. com.example.shop)", id)
			}
			ctx := cmd.Context()
			pool, err := pg.Open(ctx, global.db)
			if err != nil {
				return err
			}
			defer pool.Close()
			tx, err := pool.Begin(ctx)
			if err != nil {
				return fmt.Errorf("create app %q: %w", id, err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `INSERT INTO apps (id, name) VALUES ($1, $2)`, id, name); err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "23505" {
					return fmt.Errorf("app %q already exists (mint another token with: fleetlens app token %s)", id, id)
				}
				return fmt.Errorf("create app %q: %w", id, err)
			}
			tok, err := auth.Mint(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("create app %q: %w", id, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created app %s\n", id)
			fmt.Fprintln(out, "ingest token (shown only now; send it as Authorization: Bearer <token>):")
			fmt.Fprintln(out, tok)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "human-readable app name")
	return c
}

func newAppTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "token ID",
		Short:   "Mint another ingest token for an existing app (printed on the last line)",
		Example: "  fleetlens app token com.example.shop",
		Args:    cobra.ExactArgs(1),
		RunE: withPool(func(ctx context.Context, cmd *cobra.Command, pool *pgxpool.Pool, args []string) error {
			tok, err := auth.Mint(ctx, pool, args[0])
			if errors.Is(err, auth.ErrNoApp) {
				return fmt.Errorf("app %q does not exist (create it with: fleetlens app create %s)", args[0], args[0])
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "new ingest token for %s (shown only now):\n", args[0])
			fmt.Fprintln(out, tok)
			return nil
		}),
	}
}

func newAppRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID TOKEN",
		Short:   "Revoke an ingest token of an app (collectors stop accepting it within 30 s)",
		Example: "  fleetlens app revoke com.example.shop flt_Xk2...",
		Args:    cobra.ExactArgs(2),
		RunE: withPool(func(ctx context.Context, cmd *cobra.Command, pool *pgxpool.Pool, args []string) error {
			tag, err := pool.Exec(ctx, `UPDATE ingest_tokens SET revoked_at = now()
WHERE app_id = $1 AND token_hash = $2 AND revoked_at IS NULL`, args[0], auth.Hash(args[1]))
			if err != nil {
				return fmt.Errorf("revoke token of %s: %w", args[0], err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("no valid token of app %q matches (already revoked, or another app's)", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s... of %s\n", args[1][:min(len(args[1]), len(auth.Prefix)+4)], args[0])
			return nil
		}),
	}
}

// withPool opens the --db pool for f and closes it when f returns.
func withPool(f func(ctx context.Context, cmd *cobra.Command, pool *pgxpool.Pool, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		pool, err := pg.Open(ctx, global.db)
		if err != nil {
			return err
		}
		defer pool.Close()
		return f(ctx, cmd, pool, args)
	}
}
