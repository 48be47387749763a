// Package model is the contract between weir's collector components and its storage: the
// names under which weir_red's metrics travel, the one latency histogram every tier stores,
// the series hash of a metric point, and which span kinds count as requests.
//
// It is a leaf: it imports no component, no database driver and no pdata, so a connector
// or processor that needs these definitions does not link ClickHouse's client, and the
// exporter, rollup and the dashboards agree with the components by construction.
package model // import "github.com/weirhq/weir/internal/model"
