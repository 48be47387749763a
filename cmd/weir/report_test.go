package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

func runReport(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCommand(t, reportCommand(), args...)
}

func TestReportCommand_BadFlags(t *testing.T) {
	_, _, err := runReport(t, "--week", "2026-W60", "--endpoint", unreachable)
	require.ErrorContains(t, err, "2026-W60")
	_, _, err = runReport(t, "--week", "2026-W47", "--format", "pdf", "--endpoint", unreachable)
	require.ErrorContains(t, err, `--format "pdf"`)
	_, _, err = runReport(t, "--week", "2026-W47", "--rules", filepath.Join(t.TempDir(), "missing.yaml"), "--endpoint", unreachable)
	require.Error(t, err)
}

func TestReportCommand_Formats(t *testing.T) {
	db := chtest.New(t)
	_, err := rollup.Migrate(context.Background(), db.Conn, db.Name, 0)
	require.NoError(t, err)
	rules := filepath.Join(t.TempDir(), "costmap.yaml")
	require.NoError(t, os.WriteFile(rules, []byte("rules:\n  - tag: {keys: [service]}\n"), 0o644))
	common := []string{"--endpoint", chtest.Endpoint(), "--database", db.Name, "--rules", rules}

	out, _, err := runReport(t, append([]string{"--week", "2026-W47", "--format", "json"}, common...)...)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, "2026-W47", m["week"])
	assert.Equal(t, "2026-W46", m["previous_week"])

	out, _, err = runReport(t, append([]string{"--week", "2026-W47"}, common...)...)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "# weir weekly report: 2026-W47"), out)

	file := filepath.Join(t.TempDir(), "report.html")
	out, errOut, err := runReport(t, append([]string{"--format", "html", "--out", file}, common...)...)
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "wrote the html report of ")
	html, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(html), "<!DOCTYPE html>")
	assert.Contains(t, string(html), "weir weekly report: "+lastWeek())
}

func lastWeek() string {
	y, w := time.Now().UTC().AddDate(0, 0, -7).ISOWeek()
	return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006") + "-W" + twoDigits(w)
}

func twoDigits(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}
