// Package chtest connects integration tests to the project's ClickHouse.
//
// Every test that needs ClickHouse calls New, which connects over the native
// protocol to Addr (WEIR_TEST_CLICKHOUSE_ADDR, default 127.0.0.1:19000, the
// server that `scripts/clickhouse.sh start` and `make test` run), creates a
// database of its own and drops it when the test ends:
//
//	db := chtest.New(t)
//	db.Exec(t, "CREATE TABLE "+db.Table("spans")+" (ts DateTime, name String) "+
//		"ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY ts")
//	n := db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans"))
//
// A test whose ClickHouse is unreachable FAILS; it is never skipped, so a
// missing server cannot pass CI silently. The one exception is `go test -short`,
// the quick lane that runs only what needs no server: there New skips the test.
//
// The server on these machines is ClickHouse 18.16 (see rollup/SCHEMA.md):
// use the native protocol (the driver's HTTP mode fails there) and name the
// columns in batch inserts ("INSERT INTO db.t (a, b)").
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// AddrEnv is the environment variable that overrides DefaultAddr.
const AddrEnv = "WEIR_TEST_CLICKHOUSE_ADDR"

// DefaultAddr is the native-protocol address of scripts/clickhouse.sh's server.
const DefaultAddr = "127.0.0.1:19000"

// Addr returns the native-protocol address (host:port) of the test ClickHouse.
func Addr() string {
	if a := os.Getenv(AddrEnv); a != "" {
		return a
	}
	return DefaultAddr
}

// HTTPAddrEnv is the environment variable that overrides DefaultHTTPAddr.
const HTTPAddrEnv = "WEIR_TEST_CLICKHOUSE_HTTP_ADDR"

// DefaultHTTPAddr is the HTTP-interface address of scripts/clickhouse.sh's server.
const DefaultHTTPAddr = "127.0.0.1:18123"

// HTTPAddr returns the HTTP-interface address (host:port) of the test ClickHouse, the same
// server as Addr.
func HTTPAddr() string {
	if a := os.Getenv(HTTPAddrEnv); a != "" {
		return a
	}
	return DefaultHTTPAddr
}

// Endpoint returns Addr as a "tcp://host:port" URL, the form the exporter's
// endpoint setting takes.
func Endpoint() string { return "tcp://" + Addr() }

// DB is a connection to the test ClickHouse plus a database that belongs to
// one test.
type DB struct {
	// Conn is the native-protocol connection; its default database is
	// "default", so qualify table names (see Table).
	Conn driver.Conn
	// Name is the test's database, created by New and dropped at cleanup.
	Name string
	// Addr is the address Conn is connected to.
	Addr string
}

// New connects to Addr, creates a uniquely named database and registers a
// cleanup that drops it and closes the connection. It calls t.Fatalf if
// ClickHouse cannot be reached.
func New(t testing.TB) *DB {
	t.Helper()
	SkipIfShort(t)
	addr := Addr()
	conn, err := connect(addr)
	if err != nil {
		t.Fatalf("%v", err)
	}
	db := &DB{Conn: conn, Name: dbName(t.Name()), Addr: addr}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A query the test cancelled can still be creating a table on the server (a rollup's
		// staging table, say): 18.16 then refuses the drop with code 219 once; try again.
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db.Name); err == nil || !strings.Contains(err.Error(), "code: 219") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("chtest: drop database %s: %v", db.Name, err)
		}
		if err := conn.Close(); err != nil {
			t.Errorf("chtest: close connection: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+db.Name); err != nil {
		t.Fatalf("chtest: create database %s: %v", db.Name, err)
	}
	return db
}

// SkipIfShort skips t under `go test -short`, the lane of tests that need no server. Tests
// that need ClickHouse or another server call it (New does); without -short they never skip.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a server (ClickHouse); runs without -short")
	}
}

// connect opens and pings a native-protocol connection to addr. Its error
// tells how to start the server.
func connect(addr string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{addr},
		Auth: clickhouse.Auth{
			Database: "default",
			Username: "default",
		},
		DialTimeout: 2 * time.Second,
	})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err = conn.Ping(ctx); err != nil {
			_ = conn.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ClickHouse is not reachable at %s (%v): start it with "+
			"`scripts/clickhouse.sh start` or `make test`, or set %s", addr, err, AddrEnv)
	}
	return conn, nil
}

// dbName turns a test name into a database name unique to this run:
// weir_test_<sanitized name, at most 40 chars>_<8 random hex digits>.
func dbName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 40 {
		name = name[:40]
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:]) // never fails (crypto/rand panics instead)
	return "weir_test_" + name + "_" + hex.EncodeToString(rnd[:])
}

// opContext bounds one helper call. It does not derive from t.Context(),
// which is canceled before cleanups run, so the helpers work in t.Cleanup too.
func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Minute)
}

// Table returns the qualified name "<database>.<name>" of a table in the
// test's database.
func (db *DB) Table(name string) string { return db.Name + "." + name }

// Exec runs a statement and fails the test on error. An INSERT with bound arguments or
// with a VALUES clause is refused: ClickHouse 18.16 waits forever for data after an
// INSERT ... VALUES sent by the driver, literal or bound; insert rows with
// Conn.PrepareBatch, or INSERT ... SELECT.
func (db *DB) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if up := strings.ToUpper(strings.TrimSpace(query)); strings.HasPrefix(up, "INSERT") && (len(args) > 0 || valuesRe.MatchString(up)) {
		t.Fatalf("chtest: exec %q: INSERT ... VALUES hangs on ClickHouse 18.16; use Conn.PrepareBatch or INSERT ... SELECT", query)
	}
	ctx, cancel := opContext()
	defer cancel()
	if err := db.Conn.Exec(ctx, query, args...); err != nil {
		t.Fatalf("chtest: exec %q: %v", query, err)
	}
}

var valuesRe = regexp.MustCompile(`\)\s*VALUES\s*\(|\bVALUES\s*\(`)

// QueryUint64 runs a query that returns exactly one row with one integer
// column (of any integer type, Nullable allowed if not NULL), such as
// "SELECT count() FROM ...", and returns that value. It fails the test on
// error, on a negative value or on any other result shape.
func (db *DB) QueryUint64(t testing.TB, query string, args ...any) uint64 {
	t.Helper()
	ctx, cancel := opContext()
	defer cancel()
	rows, err := db.Conn.Query(ctx, query, args...)
	if err != nil {
		t.Fatalf("chtest: query %q: %v", query, err)
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	if len(cols) != 1 {
		t.Fatalf("chtest: query %q: want 1 column, got %d", query, len(cols))
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			t.Fatalf("chtest: query %q: %v", query, err)
		}
		t.Fatalf("chtest: query %q: no rows", query)
	}
	dest := reflect.New(cols[0].ScanType())
	if err := rows.Scan(dest.Interface()); err != nil {
		t.Fatalf("chtest: query %q: scan %s: %v", query, cols[0].DatabaseTypeName(), err)
	}
	if rows.Next() {
		t.Fatalf("chtest: query %q: want 1 row, got more", query)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("chtest: query %q: %v", query, err)
	}
	v := dest.Elem()
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			t.Fatalf("chtest: query %q: result is NULL", query)
		}
		v = v.Elem()
	}
	switch {
	case v.CanUint():
		return v.Uint()
	case v.CanInt():
		if v.Int() < 0 {
			t.Fatalf("chtest: query %q: negative result %d", query, v.Int())
		}
		return uint64(v.Int())
	default:
		t.Fatalf("chtest: query %q: result type %s is not an integer", query, cols[0].DatabaseTypeName())
		return 0
	}
}

// QueryString runs a query that returns one String value, such as
// "SELECT toString(arr) FROM ...", and fails the test on error.
func (db *DB) QueryString(t testing.TB, query string, args ...any) string {
	t.Helper()
	ctx, cancel := opContext()
	defer cancel()
	var s string
	if err := db.Conn.QueryRow(ctx, query, args...).Scan(&s); err != nil {
		t.Fatalf("chtest: query %q: %v", query, err)
	}
	return s
}
