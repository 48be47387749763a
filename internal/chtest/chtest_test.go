package chtest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/testnet"
)

func TestRoundTrip(t *testing.T) {
	db := New(t)
	if got := db.QueryUint64(t, "SELECT count() FROM system.databases WHERE name = ?", db.Name); got != 1 {
		t.Fatalf("database %s: found %d times in system.databases", db.Name, got)
	}

	table := db.Table("t")
	db.Exec(t, "CREATE TABLE "+table+" (ts DateTime, a UInt64, b String) "+
		"ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY ts")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 18.16 needs the column list: "INSERT INTO t" fails with
	// "expected 0 arguments, got N".
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+table+" (ts, a, b)")
	if err != nil {
		t.Fatalf("prepare batch: %v", err)
	}
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	const n = 1000
	for i := range n {
		if err := batch.Append(base.Add(time.Duration(i)*time.Second), uint64(i), fmt.Sprintf("row-%d", i)); err != nil {
			t.Fatalf("append row %d: %v", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send batch: %v", err)
	}

	if got := db.QueryUint64(t, "SELECT count() FROM "+table); got != n {
		t.Errorf("count() = %d, want %d", got, n)
	}
	if got, want := db.QueryUint64(t, "SELECT sum(a) FROM "+table), uint64(n*(n-1)/2); got != want {
		t.Errorf("sum(a) = %d, want %d", got, want)
	}

	rows, err := db.Conn.Query(ctx, "SELECT ts, a, b FROM "+table+" WHERE a >= ? ORDER BY a", uint64(n-3))
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			ts time.Time
			a  uint64
			b  string
		)
		if err := rows.Scan(&ts, &a, &b); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got = append(got, fmt.Sprintf("%s %d %s", ts.UTC().Format(time.RFC3339), a, b))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	want := []string{
		"2024-05-01T12:16:37Z 997 row-997",
		"2024-05-01T12:16:38Z 998 row-998",
		"2024-05-01T12:16:39Z 999 row-999",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestQueryUint64Types(t *testing.T) {
	db := New(t)
	for _, tc := range []struct {
		query string
		want  uint64
	}{
		{"SELECT toUInt8(7)", 7},
		{"SELECT toInt32(42)", 42},
		{"SELECT toUInt64(18446744073709551615)", 18446744073709551615},
		{"SELECT toNullable(toUInt16(5))", 5},
		{"SELECT count() FROM system.one", 1},
	} {
		if got := db.QueryUint64(t, tc.query); got != tc.want {
			t.Errorf("%s = %d, want %d", tc.query, got, tc.want)
		}
	}
}

func TestCleanupDropsDatabase(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		db := New(t)
		name = db.Name
		db.Exec(t, "CREATE TABLE "+db.Table("x")+" (ts DateTime) ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY ts")
	})
	db := New(t)
	if got := db.QueryUint64(t, "SELECT count() FROM system.databases WHERE name = ?", name); got != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestDBName(t *testing.T) {
	a := dbName("TestSomething/with spaces-and.dots#01")
	if !strings.HasPrefix(a, "weir_test_testsomething_with_spaces_and_dots_01_") {
		t.Errorf("dbName = %q", a)
	}
	long := dbName(strings.Repeat("X", 100))
	if want := len("weir_test_") + 40 + 1 + 8; len(long) != want {
		t.Errorf("len(dbName(long)) = %d, want %d (%q)", len(long), want, long)
	}
	for _, r := range long {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			t.Errorf("dbName(long) = %q has %q", long, r)
		}
	}
	if b := dbName("TestSomething/with spaces-and.dots#01"); a == b {
		t.Errorf("dbName not unique: %q twice", a)
	}
}

func TestConnectErrorTellsHowToStart(t *testing.T) {
	addr := testnet.FreeAddr(t) // nothing listens there
	_, err := connect(addr)
	if err == nil {
		t.Fatalf("connect(%s) succeeded with nothing listening", addr)
	}
	for _, want := range []string{addr, "scripts/clickhouse.sh start", "make test", AddrEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// recorder is a testing.TB that records Fatal and Skip calls instead of
// acting on the real test; like the real ones they end the calling goroutine.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Cleanup(func())            {}
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *recorder) Fatal(a ...any)            { r.fatal = fmt.Sprint(a...); runtime.Goexit() }
func (r *recorder) FailNow()                  { r.fatal = "FailNow"; runtime.Goexit() }
func (r *recorder) Skipf(f string, a ...any)  { r.skip = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *recorder) Skip(a ...any)             { r.skip = fmt.Sprint(a...); runtime.Goexit() }
func (r *recorder) SkipNow()                  { r.skip = "SkipNow"; runtime.Goexit() }

func TestNewFailsWhenUnreachable(t *testing.T) {
	addr := testnet.FreeAddr(t)
	t.Setenv(AddrEnv, addr)
	if Addr() != addr {
		t.Fatalf("Addr() = %q, want %q from %s", Addr(), addr, AddrEnv)
	}

	r := &recorder{TB: t}
	done := make(chan struct{})
	returned := false
	go func() {
		defer close(done)
		New(r)
		returned = true
	}()
	<-done

	if returned {
		t.Fatal("New returned with nothing listening at " + addr)
	}
	if testing.Short() {
		// The quick lane runs only tests that need no server: New skips them there.
		if !strings.Contains(r.skip, "without -short") || r.fatal != "" {
			t.Fatalf("under -short New should skip; skip=%q fatal=%q", r.skip, r.fatal)
		}
		return
	}
	if r.skip != "" {
		t.Fatalf("New skipped instead of failing: %s", r.skip)
	}
	if !strings.Contains(r.fatal, "not reachable at "+addr) || !strings.Contains(r.fatal, "scripts/clickhouse.sh") {
		t.Fatalf("New's failure message = %q", r.fatal)
	}
}

func TestAddrDefault(t *testing.T) {
	t.Setenv(AddrEnv, "")
	if got := Addr(); got != DefaultAddr {
		t.Errorf("Addr() = %q, want %q", got, DefaultAddr)
	}
	if got := Endpoint(); got != "tcp://"+DefaultAddr {
		t.Errorf("Endpoint() = %q", got)
	}
}

func TestExec_RefusesInsertWithArguments(t *testing.T) {
	db := New(t)
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Exec(r, "INSERT INTO "+db.Table("t")+" (a) VALUES (?)", 1)
	}()
	<-done
	if !strings.Contains(r.fatal, "PrepareBatch") {
		t.Fatalf("want a failure pointing to PrepareBatch, got %q", r.fatal)
	}
	r = &recorder{TB: t}
	done = make(chan struct{})
	go func() {
		defer close(done)
		db.Exec(r, "INSERT INTO "+db.Table("t")+" (a) VALUES (1)")
	}()
	<-done
	if !strings.Contains(r.fatal, "INSERT ... SELECT") {
		t.Fatalf("want a literal VALUES refused too, got %q", r.fatal)
	}
}
