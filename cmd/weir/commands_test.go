package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// runCommand runs a weir subcommand in-process with args and returns what it wrote.
func runCommand(t *testing.T, cmd *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestSelfMetricsPushAtShutdown(t *testing.T) {
	known := errors.New(`failed to shutdown service after error: failed to shutdown meter provider: failed to upload metrics: Post "http://127.0.0.1:4318/v1/metrics": dial tcp 127.0.0.1:4318: connect: connection refused`)
	require.True(t, selfMetricsPushAtShutdown(known))
	require.False(t, selfMetricsPushAtShutdown(errors.New("failed to shutdown service after error: failed to shutdown pipelines: exporter clickhouse: boom")))
	require.False(t, selfMetricsPushAtShutdown(errors.New("cannot start pipelines: listen tcp :4317: bind: address already in use")))
}
