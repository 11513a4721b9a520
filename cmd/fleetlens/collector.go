package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlens/fleetlens/collector"
	"github.com/fleetlens/fleetlens/internal/config"
	"github.com/fleetlens/fleetlens/internal/pg"
)

func newCollectorCmd() *cobra.Command {
	var (
		file                string
		httpEP, grpcEP, adm string
	)
	c := &cobra.Command{
		Use:   "collector [--config FILE]",
		Short: "OTLP collector: gRPC :4317, HTTP :4318 into PostgreSQL",
		Long: `Receives OTLP traces and logs from sdk-hooks and any OpenTelemetry SDK or collector
(OTLP/HTTP protobuf or JSON, gzip or zstd, on /v1/traces and /v1/logs; OTLP/gRPC), checks the
app's ingest token (fleetlens app create|token), scrubs PII, enriches with network class and
device tier, and answers only after the data is committed to PostgreSQL.

Configuration: defaults, then the YAML file, then FLEETLENS_COLLECTOR_* environment variables
(e.g. FLEETLENS_COLLECTOR_HTTP_ENDPOINT, FLEETLENS_COLLECTOR_RETENTION=720h), then flags.
Admin endpoint: /metrics (Prometheus), /healthz, /readyz.`,
		Example: `  fleetlens collector
  fleetlens collector --config collector.yaml
  fleetlens collector --http 0.0.0.0:4318 --grpc 0.0.0.0:4317

  # collector.yaml
  http: {endpoint: "localhost:4318"}
  grpc: {endpoint: "localhost:4317"}
  admin: {endpoint: "localhost:8888"}
  store: {retention: 720h}
  scrub: {emails: true, user_id_keys: [enduser.id], user_id_key: "a secret for pseudonyms"}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := collector.DefaultConfig()
			if err := config.Load(file, &cfg); err != nil {
				return err
			}
			if cmd.Flags().Changed("http") {
				cfg.HTTP.Endpoint = httpEP
			}
			if cmd.Flags().Changed("grpc") {
				cfg.GRPC.Endpoint = grpcEP
			}
			if cmd.Flags().Changed("admin") {
				cfg.Admin.Endpoint = adm
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("collector config: %w", err)
			}
			cfg.ApplyRuntime()
			ctx := cmd.Context()
			pool, err := pg.Open(ctx, global.db)
			if err != nil {
				return err
			}
			defer pool.Close()
			col, err := collector.NewCollector(cfg, pool)
			if err != nil {
				return err
			}
			if err := col.Start(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "collector listening: otlp/http %s  otlp/grpc %s  admin %s\n",
				orNone(col.HTTPAddr()), orNone(col.GRPCAddr()), orNone(col.AdminAddr()))
			var runErr error
			select {
			case <-ctx.Done():
				slog.Info("collector: shutting down; finishing in-flight requests")
			case runErr = <-col.Err():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := col.Shutdown(sctx); err != nil && runErr == nil {
				runErr = err
			}
			return runErr
		},
	}
	c.Flags().StringVar(&file, "config", "", "YAML config file")
	c.Flags().StringVar(&httpEP, "http", "", "OTLP/HTTP listen address (default localhost:4318; \"\" disables)")
	c.Flags().StringVar(&grpcEP, "grpc", "", "OTLP/gRPC listen address (default localhost:4317; \"\" disables)")
	c.Flags().StringVar(&adm, "admin", "", "admin listen address for /metrics, /healthz, /readyz (default localhost:8888)")
	return c
}

func orNone(s string) string {
	if s == "" {
		return "off"
	}
	return s
}
