package chinsert

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/chtest"
)

// BenchmarkInsert_100kRows sends one pre-encoded, LZ4-framed block of 100,000 span-like rows
// per op, into a Null table, through Client.Insert and, as the peer, through a plain http.Post as
// clickhouse-client's HTTP users do. ns/op is the server's insert plus the send; the
// client's share is client-cpu-ns/row, the CPU time of this process per row sent (from
// getrusage; split into user-ns/row and sys-ns/row), which must come out the same for both
// within the noise of a shared machine.
func BenchmarkInsert_100kRows(b *testing.B) {
	endpoint := httpEndpoint(b)
	db := chtest.New(b)
	// A Null table: the server reads, decompresses and checks every block, then drops it,
	// so ns/op stays near the cost of the transfer instead of growing with merges.
	db.Exec(b, "CREATE TABLE "+db.Table("spans")+" AS "+createSpans(b, db, "spans_mt")+" ENGINE = Null")
	const rows = 100_000
	body := Compress(nil, encodeSpans(b, nil, testSpans(rows)), LZ4)
	ctx := context.Background()

	b.Run("chinsert", func(b *testing.B) {
		c := newClient(b, Options{Endpoints: []string{endpoint}})
		req := InsertRequest{Database: db.Name, Table: "spans", Body: body, Compression: LZ4}
		measureInsert(b, rows, len(body), func() error { return c.Insert(ctx, req) })
	})
	b.Run("http.Post", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		u := endpoint + "/?query=" + url.QueryEscape("INSERT INTO "+db.Name+".spans FORMAT Native") + "&decompress=1"
		measureInsert(b, rows, len(body), func() error {
			resp, err := hc.Post(u, "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				return err
			}
			msg, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
			}
			return nil
		})
	})
}

func measureInsert(b *testing.B, rows, size int, insert func() error) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	user0, sys0 := cpuTime(b)
	n := 0
	for b.Loop() {
		if err := insert(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	user1, sys1 := cpuTime(b)
	perRow := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n*rows) }
	b.ReportMetric(perRow(user1-user0+sys1-sys0), "client-cpu-ns/row")
	b.ReportMetric(perRow(user1-user0), "user-ns/row")
	b.ReportMetric(perRow(sys1-sys0), "sys-ns/row")
}

// cpuTime is the CPU time this process has used, in user space and in the kernel (which
// on loopback includes delivering the bytes to the server's socket).
func cpuTime(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
