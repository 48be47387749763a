package chinsert_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/weirhq/weir/internal/chinsert"
)

// Sending a block weir encoded (with ch-go's proto, protocol version 0) and reacting to the
// outcome as a durable queue does.
func ExampleClient_Insert() {
	c, err := chinsert.New(chinsert.Options{
		Endpoints:      []string{"http://ch1:8123", "http://ch2:8123"},
		Username:       "weir",
		Password:       os.Getenv("WEIR_CLICKHOUSE_PASSWORD"),
		RequestTimeout: 30 * time.Second,
	})
	if err != nil {
		slog.Error("clickhouse", "err", err)
		return
	}
	defer c.Close()

	var block []byte // a Native block from internal/chblock
	var comp chinsert.Compressor
	body := comp.Compress(nil, block, chinsert.LZ4)

	err = c.Insert(context.Background(), chinsert.InsertRequest{
		Database:    "weir",
		Table:       "spans",
		Body:        body,
		Compression: chinsert.LZ4,
		QueryID:     "weir-batch-42",
		Settings:    []chinsert.Setting{{Key: "insert_distributed_sync", Value: "1"}},
	})
	switch {
	case err == nil:
		// Written: drop the batch from the queue.
	case chinsert.IsAuth(err), chinsert.IsUnknownDatabase(err):
		slog.Error("clickhouse refuses weir: fix the configuration", "err", err)
	case chinsert.IsPermanent(err):
		// This batch can never go in: move it aside, count it.
	case chinsert.MaybeInserted(err):
		// The rows may be in: look for the batch's insert ID before sending it again.
	default:
		// Retry later.
	}
}

// Small reads over the same endpoints, such as checking whether a batch went in.
func ExampleClient_Query() {
	c, err := chinsert.New(chinsert.Options{Endpoints: []string{"http://127.0.0.1:8123"}})
	if err != nil {
		return
	}
	defer c.Close()
	out, err := c.Query(context.Background(), "SELECT count() FROM weir.spans WHERE InsertId = 42 FORMAT TSV")
	if err != nil {
		return
	}
	fmt.Printf("%s", out)
}

// Framing an encoded block for an Insert with Compression: LZ4.
func ExampleCompress() {
	block := []byte("…an encoded Native block…")
	body := chinsert.Compress(nil, block, chinsert.LZ4)
	fmt.Println(len(body) > 25) // 16 bytes checksum + 9 bytes header + data
	// Output: true
}
