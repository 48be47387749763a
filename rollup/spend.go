package rollup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// SpendRow is one FOCUS cost and usage row as the spend table stores it. Times are UTC and
// must lie within DateTime's range (1970 to 2106). A null FOCUS value is an empty string or
// a zero number.
type SpendRow struct {
	BillingPeriodStart, BillingPeriodEnd time.Time
	ChargePeriodStart, ChargePeriodEnd   time.Time

	Provider, HostProvider, Publisher, InvoiceIssuer         string
	BillingAccountID, BillingAccountName, BillingAccountType string
	SubAccountID, SubAccountName, SubAccountType             string
	InvoiceID                                                string
	ServiceCategory, ServiceSubcategory, ServiceName         string
	ResourceID, ResourceName, ResourceType                   string
	RegionID, RegionName, AvailabilityZone                   string
	SkuID, SkuPriceID                                        string
	ChargeCategory, ChargeClass, ChargeFrequency             string
	ChargeDescription, PricingCategory, BillingCurrency      string

	BilledCost, EffectiveCost, ListCost, ContractedCost float64
	ConsumedQuantity, PricingQuantity                   float64
	ConsumedUnit, PricingUnit                           string

	// TagKeys and TagValues are the members of the Tags JSON object, in its order, each
	// value as text. They must have the same length.
	TagKeys, TagValues []string
	// ExtraKeys and ExtraValues keep every other non-empty column: x_ custom columns,
	// columns weir does not know, and FOCUS columns without a column of their own. They
	// must have the same length.
	ExtraKeys, ExtraValues []string

	Source     string // the file the row came from
	LineNumber uint64 // the line of the file the row starts on; the header is line 1
}

// spendStrings are the spend table's plain string columns, in insert order.
var spendStrings = []struct {
	name string
	get  func(*SpendRow) string
}{
	{"Provider", func(r *SpendRow) string { return r.Provider }},
	{"HostProvider", func(r *SpendRow) string { return r.HostProvider }},
	{"Publisher", func(r *SpendRow) string { return r.Publisher }},
	{"InvoiceIssuer", func(r *SpendRow) string { return r.InvoiceIssuer }},
	{"BillingAccountId", func(r *SpendRow) string { return r.BillingAccountID }},
	{"BillingAccountName", func(r *SpendRow) string { return r.BillingAccountName }},
	{"BillingAccountType", func(r *SpendRow) string { return r.BillingAccountType }},
	{"SubAccountId", func(r *SpendRow) string { return r.SubAccountID }},
	{"SubAccountName", func(r *SpendRow) string { return r.SubAccountName }},
	{"SubAccountType", func(r *SpendRow) string { return r.SubAccountType }},
	{"InvoiceId", func(r *SpendRow) string { return r.InvoiceID }},
	{"ServiceCategory", func(r *SpendRow) string { return r.ServiceCategory }},
	{"ServiceSubcategory", func(r *SpendRow) string { return r.ServiceSubcategory }},
	{"ServiceName", func(r *SpendRow) string { return r.ServiceName }},
	{"ResourceId", func(r *SpendRow) string { return r.ResourceID }},
	{"ResourceName", func(r *SpendRow) string { return r.ResourceName }},
	{"ResourceType", func(r *SpendRow) string { return r.ResourceType }},
	{"RegionId", func(r *SpendRow) string { return r.RegionID }},
	{"RegionName", func(r *SpendRow) string { return r.RegionName }},
	{"AvailabilityZone", func(r *SpendRow) string { return r.AvailabilityZone }},
	{"SkuId", func(r *SpendRow) string { return r.SkuID }},
	{"SkuPriceId", func(r *SpendRow) string { return r.SkuPriceID }},
	{"ChargeCategory", func(r *SpendRow) string { return r.ChargeCategory }},
	{"ChargeClass", func(r *SpendRow) string { return r.ChargeClass }},
	{"ChargeFrequency", func(r *SpendRow) string { return r.ChargeFrequency }},
	{"ChargeDescription", func(r *SpendRow) string { return r.ChargeDescription }},
	{"PricingCategory", func(r *SpendRow) string { return r.PricingCategory }},
	{"BillingCurrency", func(r *SpendRow) string { return r.BillingCurrency }},
	{"ConsumedUnit", func(r *SpendRow) string { return r.ConsumedUnit }},
	{"PricingUnit", func(r *SpendRow) string { return r.PricingUnit }},
}

// spendNumbers are the spend table's Float64 columns, in insert order.
var spendNumbers = []struct {
	name string
	get  func(*SpendRow) float64
}{
	{"BilledCost", func(r *SpendRow) float64 { return r.BilledCost }},
	{"EffectiveCost", func(r *SpendRow) float64 { return r.EffectiveCost }},
	{"ListCost", func(r *SpendRow) float64 { return r.ListCost }},
	{"ContractedCost", func(r *SpendRow) float64 { return r.ContractedCost }},
	{"ConsumedQuantity", func(r *SpendRow) float64 { return r.ConsumedQuantity }},
	{"PricingQuantity", func(r *SpendRow) float64 { return r.PricingQuantity }},
}

var spendTimes = []string{"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "Date"}

// spendColumns is the insert column list, in the order SpendBlock appends its columns.
var spendColumns = func() []string {
	cols := append([]string(nil), spendTimes...)
	for _, c := range spendStrings {
		cols = append(cols, c.name)
	}
	for _, c := range spendNumbers {
		cols = append(cols, c.name)
	}
	return append(cols, "TagKeys", "TagValues", "ExtraKeys", "ExtraValues", "Source", "ImportId", "LineNumber")
}()

// SpendBlock is a columnar block of spend rows on its way to ClickHouse. Append copies a
// row's values (string contents are shared, not copied), so the caller may reuse the
// SpendRow and its slices right away. Reset empties the block and keeps its memory for the
// next one. A SpendBlock is not safe for concurrent use.
type SpendBlock struct {
	times  [5][]time.Time // spendTimes
	strs   [][]string     // spendStrings
	nums   [][]float64    // spendNumbers
	tags   kvColumns
	extra  kvColumns
	source []string
	line   []uint64
	ids    []string // ImportId, filled in by the writer
	bytes  int
}

// Append adds one row.
func (b *SpendBlock) Append(r *SpendRow) {
	if b.strs == nil {
		b.strs = make([][]string, len(spendStrings))
		b.nums = make([][]float64, len(spendNumbers))
	}
	b.times[0] = append(b.times[0], r.BillingPeriodStart)
	b.times[1] = append(b.times[1], r.BillingPeriodEnd)
	b.times[2] = append(b.times[2], r.ChargePeriodStart)
	b.times[3] = append(b.times[3], r.ChargePeriodEnd)
	b.times[4] = append(b.times[4], utcDay(r.ChargePeriodStart))
	n := 5*4 + 8
	for i, c := range spendStrings {
		s := c.get(r)
		b.strs[i] = append(b.strs[i], s)
		n += len(s)
	}
	for i, c := range spendNumbers {
		b.nums[i] = append(b.nums[i], c.get(r))
	}
	n += 8 * len(spendNumbers)
	n += b.tags.append(r.TagKeys, r.TagValues)
	n += b.extra.append(r.ExtraKeys, r.ExtraValues)
	b.source = append(b.source, r.Source)
	b.line = append(b.line, r.LineNumber)
	b.bytes += n + len(r.Source)
}

// Len is the number of rows in the block.
func (b *SpendBlock) Len() int { return len(b.line) }

// Bytes estimates the block's size as ClickHouse receives it, to bound blocks in memory.
func (b *SpendBlock) Bytes() int { return b.bytes }

// Reset empties the block, keeping its memory but not the strings it pointed to.
func (b *SpendBlock) Reset() {
	for i := range b.times {
		b.times[i] = b.times[i][:0]
	}
	for i := range b.strs {
		b.strs[i] = clearStrings(b.strs[i])
	}
	for i := range b.nums {
		b.nums[i] = b.nums[i][:0]
	}
	b.tags.reset()
	b.extra.reset()
	b.source, b.line = clearStrings(b.source), b.line[:0]
	b.bytes = 0
}

func (b *SpendBlock) columns(importID string) []any {
	b.ids = fill(b.ids, importID, b.Len())
	cols := make([]any, 0, len(spendColumns))
	for i := range b.times {
		cols = append(cols, b.times[i])
	}
	for i := range spendStrings {
		cols = append(cols, b.strs[i])
	}
	for i := range spendNumbers {
		cols = append(cols, b.nums[i])
	}
	return append(cols, b.tags.keys, b.tags.vals, b.extra.keys, b.extra.vals, b.source, b.ids, b.line)
}

// AllocationRow is one OpenCost allocation (a namespace's, controller's or pod's cost over
// one window) as the allocation table stores it. Times are UTC.
type AllocationRow struct {
	WindowStart, WindowEnd time.Time
	// Name is the allocation's aggregate key, e.g. "kube-system" or "cluster-one/__idle__".
	Name                                                  string
	Cluster, Node, Namespace, ControllerKind, Controller  string
	Pod, Container                                        string
	IsIdle                                                bool
	Minutes                                               float64
	CPUCoreRequestAverage, CPUCoreUsageAverage            float64
	RAMByteRequestAverage, RAMByteUsageAverage            float64
	CPUCost, GPUCost, RAMCost, PVCost, NetworkCost        float64
	LoadBalancerCost, SharedCost, ExternalCost, TotalCost float64
	CPUEfficiency, RAMEfficiency, TotalEfficiency         float64
	LabelKeys, LabelValues                                []string // same length
	Source                                                string   // the file it came from
}

var allocationStrings = []struct {
	name string
	get  func(*AllocationRow) string
}{
	{"Name", func(r *AllocationRow) string { return r.Name }},
	{"Cluster", func(r *AllocationRow) string { return r.Cluster }},
	{"Node", func(r *AllocationRow) string { return r.Node }},
	{"Namespace", func(r *AllocationRow) string { return r.Namespace }},
	{"ControllerKind", func(r *AllocationRow) string { return r.ControllerKind }},
	{"Controller", func(r *AllocationRow) string { return r.Controller }},
	{"Pod", func(r *AllocationRow) string { return r.Pod }},
	{"Container", func(r *AllocationRow) string { return r.Container }},
}

var allocationNumbers = []struct {
	name string
	get  func(*AllocationRow) float64
}{
	{"Minutes", func(r *AllocationRow) float64 { return r.Minutes }},
	{"CpuCoreRequestAverage", func(r *AllocationRow) float64 { return r.CPUCoreRequestAverage }},
	{"CpuCoreUsageAverage", func(r *AllocationRow) float64 { return r.CPUCoreUsageAverage }},
	{"RamByteRequestAverage", func(r *AllocationRow) float64 { return r.RAMByteRequestAverage }},
	{"RamByteUsageAverage", func(r *AllocationRow) float64 { return r.RAMByteUsageAverage }},
	{"CpuCost", func(r *AllocationRow) float64 { return r.CPUCost }},
	{"GpuCost", func(r *AllocationRow) float64 { return r.GPUCost }},
	{"RamCost", func(r *AllocationRow) float64 { return r.RAMCost }},
	{"PvCost", func(r *AllocationRow) float64 { return r.PVCost }},
	{"NetworkCost", func(r *AllocationRow) float64 { return r.NetworkCost }},
	{"LoadBalancerCost", func(r *AllocationRow) float64 { return r.LoadBalancerCost }},
	{"SharedCost", func(r *AllocationRow) float64 { return r.SharedCost }},
	{"ExternalCost", func(r *AllocationRow) float64 { return r.ExternalCost }},
	{"TotalCost", func(r *AllocationRow) float64 { return r.TotalCost }},
	{"CpuEfficiency", func(r *AllocationRow) float64 { return r.CPUEfficiency }},
	{"RamEfficiency", func(r *AllocationRow) float64 { return r.RAMEfficiency }},
	{"TotalEfficiency", func(r *AllocationRow) float64 { return r.TotalEfficiency }},
}

var allocationColumns = func() []string {
	cols := []string{"WindowStart", "WindowEnd", "Date"}
	for _, c := range allocationStrings {
		cols = append(cols, c.name)
	}
	cols = append(cols, "IsIdle")
	for _, c := range allocationNumbers {
		cols = append(cols, c.name)
	}
	return append(cols, "LabelKeys", "LabelValues", "Source", "ImportId")
}()

// AllocationBlock is a columnar block of allocation rows, used like SpendBlock. It is not
// safe for concurrent use.
type AllocationBlock struct {
	times  [3][]time.Time
	strs   [][]string
	idle   []uint8
	nums   [][]float64
	labels kvColumns
	source []string
	ids    []string
	bytes  int
}

// Append adds one row; the caller may reuse r right away.
func (b *AllocationBlock) Append(r *AllocationRow) {
	if b.strs == nil {
		b.strs = make([][]string, len(allocationStrings))
		b.nums = make([][]float64, len(allocationNumbers))
	}
	b.times[0] = append(b.times[0], r.WindowStart)
	b.times[1] = append(b.times[1], r.WindowEnd)
	b.times[2] = append(b.times[2], utcDay(r.WindowStart))
	n := 3*4 + 1 + 8*len(allocationNumbers)
	for i, c := range allocationStrings {
		s := c.get(r)
		b.strs[i] = append(b.strs[i], s)
		n += len(s)
	}
	var idle uint8
	if r.IsIdle {
		idle = 1
	}
	b.idle = append(b.idle, idle)
	for i, c := range allocationNumbers {
		b.nums[i] = append(b.nums[i], c.get(r))
	}
	n += b.labels.append(r.LabelKeys, r.LabelValues)
	b.source = append(b.source, r.Source)
	b.bytes += n + len(r.Source)
}

// Len is the number of rows in the block.
func (b *AllocationBlock) Len() int { return len(b.idle) }

// Bytes estimates the block's size as ClickHouse receives it.
func (b *AllocationBlock) Bytes() int { return b.bytes }

// Reset empties the block, keeping its memory but not the strings it pointed to.
func (b *AllocationBlock) Reset() {
	for i := range b.times {
		b.times[i] = b.times[i][:0]
	}
	for i := range b.strs {
		b.strs[i] = clearStrings(b.strs[i])
	}
	for i := range b.nums {
		b.nums[i] = b.nums[i][:0]
	}
	b.idle = b.idle[:0]
	b.labels.reset()
	b.source = clearStrings(b.source)
	b.bytes = 0
}

func (b *AllocationBlock) columns(importID string) []any {
	b.ids = fill(b.ids, importID, b.Len())
	cols := make([]any, 0, len(allocationColumns))
	for i := range b.times {
		cols = append(cols, b.times[i])
	}
	for i := range allocationStrings {
		cols = append(cols, b.strs[i])
	}
	cols = append(cols, b.idle)
	for i := range allocationNumbers {
		cols = append(cols, b.nums[i])
	}
	return append(cols, b.labels.keys, b.labels.vals, b.source, b.ids)
}

// kvColumns is a key/value map as two parallel Array(String) columns. Rows are views into
// flat backing slices, so a block allocates only when those grow.
type kvColumns struct {
	keys, vals   [][]string
	flatK, flatV []string
}

func (c *kvColumns) reset() {
	clear(c.keys)
	clear(c.vals)
	c.keys, c.vals = c.keys[:0], c.vals[:0]
	c.flatK, c.flatV = clearStrings(c.flatK), clearStrings(c.flatV)
}

// clearStrings empties s, zeroing what it held so the strings (and the input lines they
// are part of) can be freed before the slice is filled again.
func clearStrings(s []string) []string {
	clear(s)
	return s[:0]
}

// append adds one row of pairs and returns the bytes it adds. Keys without a value (a
// caller's bug) are dropped, so the arrays always have the same length.
func (c *kvColumns) append(keys, vals []string) int {
	n := min(len(keys), len(vals))
	s := len(c.flatK)
	c.flatK = append(c.flatK, keys[:n]...)
	c.flatV = append(c.flatV, vals[:n]...)
	e := len(c.flatK)
	c.keys = append(c.keys, c.flatK[s:e:e])
	c.vals = append(c.vals, c.flatV[s:e:e])
	bytes := 16
	for i := range n {
		bytes += len(keys[i]) + len(vals[i]) + 2
	}
	return bytes
}

// fill returns dst holding n copies of s.
func fill(dst []string, s string, n int) []string {
	dst = clearStrings(dst)
	for range n {
		dst = append(dst, s)
	}
	return dst
}

// utcDay is the UTC midnight of t's day, which the driver stores as that Date.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// stagedTable describes how an import replaces part of a table.
type stagedTable struct {
	table   string
	columns []string
	// partition is the table's PARTITION BY tuple without its parentheses, as in its .sql
	// file.
	partition string
	// scope is the tuple of columns an import replaces as a whole: every stored row whose
	// scope an import has rows for is replaced by the import's rows.
	scope string
}

var (
	spendStaged = stagedTable{
		table:     TableSpend,
		columns:   spendColumns,
		partition: "toYYYYMM(BillingPeriodStart), cityHash64(BillingAccountId)",
		scope:     "BillingPeriodStart, BillingAccountId",
	}
	allocationStaged = stagedTable{
		table:     TableAllocation,
		columns:   allocationColumns,
		partition: "toYYYYMM(WindowStart), cityHash64(Cluster)",
		scope:     "WindowStart, WindowEnd, Cluster",
	}
)

// stagedImport is one import's staging table: rows go there, and Commit swaps the
// partitions they touch into the target table.
type stagedImport struct {
	conn     driver.Conn
	db       string
	t        stagedTable
	id       string
	staging  string // qualified
	rows     uint64 // rows sent
	finished bool

	// The INSERT being filled: blocks are appended to it (the driver copies them) until it
	// holds importBatchBytes or is importBatchAge old, so that an import makes few, large
	// parts while its own blocks stay small.
	batch       driver.Batch
	batchRows   int
	batchBytes  int
	batchOpened time.Time
}

// Bounds of one INSERT into a staging table: its bytes are held in the driver until sent
// (about three times over while it is encoded), and the server waits for the rest of an
// open INSERT only so long. 4 MiB keeps an import within some tens of MiB of heap and
// makes a 1 GB export about 250 parts, which the staging table merges as they come.
const (
	importBatchBytes = 4 << 20
	importBatchAge   = 10 * time.Second
)

func newStagedImport(ctx context.Context, conn driver.Conn, database string, t stagedTable) (*stagedImport, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("import: no ClickHouse connection")
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // never fails
	id := hex.EncodeToString(rnd[:])
	s := &stagedImport{conn: conn, db: database, t: t, id: id,
		staging: database + "." + t.table + "_import_" + id}
	// Same structure and partition key as the target, which REPLACE PARTITION needs.
	if err := conn.Exec(ctx, "CREATE TABLE "+s.staging+" AS "+database+"."+t.table); err != nil {
		return nil, fmt.Errorf("create staging table for %s.%s (is the schema up to date? weir schema --apply): %w",
			database, t.table, err)
	}
	return s, nil
}

// send appends one block's columns to the open INSERT, and sends it when it is large or
// old enough. On error the import must be aborted: the open INSERT's rows are lost.
func (s *stagedImport) send(ctx context.Context, rows, bytes int, cols []any) error {
	if s.finished {
		return errors.New("import: write after commit or abort")
	}
	if rows == 0 {
		return nil
	}
	if s.batch == nil {
		batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.staging+" ("+strings.Join(s.t.columns, ", ")+")")
		if err != nil {
			return fmt.Errorf("insert into %s: %w", s.staging, err)
		}
		s.batch, s.batchOpened = batch, time.Now()
	}
	for i, c := range cols {
		if err := s.batch.Column(i).Append(c); err != nil {
			s.abortBatch()
			return fmt.Errorf("insert into %s: column %s: %w", s.staging, s.t.columns[i], err)
		}
	}
	s.batchRows += rows
	s.batchBytes += bytes
	if s.batchBytes >= importBatchBytes || time.Since(s.batchOpened) >= importBatchAge {
		return s.sendBatch()
	}
	return nil
}

// sendBatch sends the open INSERT, if any.
func (s *stagedImport) sendBatch() error {
	if s.batch == nil {
		return nil
	}
	err := s.batch.Send()
	rows := s.batchRows
	s.batch, s.batchRows, s.batchBytes = nil, 0, 0
	if err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", rows, s.staging, err)
	}
	s.rows += uint64(rows)
	return nil
}

func (s *stagedImport) abortBatch() {
	if s.batch != nil {
		_ = s.batch.Abort()
	}
	s.batch, s.batchRows, s.batchBytes = nil, 0, 0
}

// commit replaces, in the target table, every scope the staged rows have with those rows.
// summarize runs first, while the staging table holds only this import's rows. It returns
// the IDs of the partitions it replaced.
func (s *stagedImport) commit(ctx context.Context, summarize func(ctx context.Context) error) ([]string, error) {
	if s.finished {
		return nil, errors.New("import: commit after commit or abort")
	}
	defer s.drop()
	if err := s.sendBatch(); err != nil {
		return nil, err
	}
	if s.rows == 0 {
		return nil, nil
	}
	if err := summarize(ctx); err != nil {
		return nil, err
	}
	target := s.db + "." + s.t.table
	cols := strings.Join(s.t.columns, ", ")
	// REPLACE PARTITION swaps whole partitions, and a partition can hold scopes this import
	// does not have (another billing period of the month, or another account whose hash
	// collides): copy those over first so they survive the swap.
	keep := "INSERT INTO " + s.staging + " (" + cols + ")\n" +
		"SELECT " + cols + " FROM " + target + "\n" +
		"WHERE (" + s.t.partition + ") IN (SELECT DISTINCT " + s.t.partition + " FROM " + s.staging + ")\n" +
		"  AND (" + s.t.scope + ") NOT IN (SELECT DISTINCT " + s.t.scope + " FROM " + s.staging + ")"
	if err := s.conn.Exec(ctx, keep); err != nil {
		return nil, fmt.Errorf("keep other rows of %s: %w", target, err)
	}
	ids, err := s.partitions(ctx)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		// Each swap is atomic: readers see the old partition or the new one.
		if err := s.conn.Exec(ctx, "ALTER TABLE "+target+" REPLACE PARTITION ID '"+id+"' FROM "+s.staging); err != nil {
			return ids[:i], fmt.Errorf("replace partition %s of %s: %w", id, target, err)
		}
	}
	return ids, nil
}

// partitions lists the staging table's partition IDs, sorted.
func (s *stagedImport) partitions(ctx context.Context) ([]string, error) {
	name := s.staging[len(s.db)+1:]
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = ? AND active ORDER BY partition_id",
		s.db, name)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", s.staging, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", s.staging, err)
		}
		// IDs come from the server; they are digits and a dash, but never trust them into SQL.
		if strings.Trim(id, "0123456789-") != "" {
			return nil, fmt.Errorf("list partitions of %s: unexpected partition ID %q", s.staging, id)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// abort drops the staging table: the target is left as it was.
func (s *stagedImport) abort(ctx context.Context) error {
	if s.finished {
		return nil
	}
	s.finished = true
	s.abortBatch()
	if err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+s.staging); err != nil {
		return fmt.Errorf("drop staging table %s: %w", s.staging, err)
	}
	return nil
}

// drop removes the staging table after a commit, on a context of its own so that a
// canceled import still cleans up.
func (s *stagedImport) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.abort(ctx)
}

// SpendWriter writes one import of FOCUS rows. Blocks go into a staging table of their own
// (spend_import_<id>, created by NewSpendWriter); Commit then replaces, in the spend
// table, every (billing period, billing account) the import has rows for with exactly
// those rows, one partition at a time with ALTER TABLE ... REPLACE PARTITION. So importing
// a billing period again replaces it instead of doubling it, and an import that fails or
// is aborted before Commit leaves the spend table as it was.
//
// Give one import every file of a billing period and account: rows of that pair that are
// not in the import are gone after Commit. A SpendWriter is not safe for concurrent use;
// separate writers (and processes) may import at once.
type SpendWriter struct {
	s *stagedImport
}

// NewSpendWriter creates the staging table of a new import into database.spend.
func NewSpendWriter(ctx context.Context, conn driver.Conn, database string) (*SpendWriter, error) {
	s, err := newStagedImport(ctx, conn, database, spendStaged)
	if err != nil {
		return nil, err
	}
	return &SpendWriter{s: s}, nil
}

// ImportID identifies the import: its rows carry it in the ImportId column.
func (w *SpendWriter) ImportID() string { return w.s.id }

// Write adds b to the staging table. The driver copies it, so the caller may Reset and
// reuse b when Write returns. Blocks are gathered into INSERTs of about 4 MiB (or 10 s),
// so small blocks still make few parts; an error means the import must be aborted.
func (w *SpendWriter) Write(ctx context.Context, b *SpendBlock) error {
	if b.Len() == 0 {
		return w.s.send(ctx, 0, 0, nil)
	}
	return w.s.send(ctx, b.Len(), b.Bytes(), b.columns(w.s.id))
}

// ReplacedPeriod is one billing period of one billing account that a Commit replaced.
type ReplacedPeriod struct {
	Start, End       time.Time // the billing period, UTC
	BillingAccountID string
	Rows             uint64  // rows the import stored for it
	PreviousRows     uint64  // rows it held before
	BilledCost       float64 // sum of the import's BilledCost
}

// SpendCommit is what a SpendWriter's Commit replaced.
type SpendCommit struct {
	ImportID   string
	Periods    []ReplacedPeriod // ordered by start, then account
	Partitions []string         // partition IDs swapped, e.g. 202409-2603192927274642682
}

// Commit swaps the import's billing periods into the spend table and drops the staging
// table. An import without rows changes nothing. On error the periods whose partitions
// were already swapped stay replaced (Partitions lists them); the others are unchanged.
func (w *SpendWriter) Commit(ctx context.Context) (SpendCommit, error) {
	c := SpendCommit{ImportID: w.s.id}
	var err error
	c.Partitions, err = w.s.commit(ctx, func(ctx context.Context) error {
		c.Periods, err = w.periods(ctx)
		return err
	})
	return c, err
}

// Abort drops the staging table; the spend table is left as it was.
func (w *SpendWriter) Abort(ctx context.Context) error { return w.s.abort(ctx) }

func (w *SpendWriter) periods(ctx context.Context) ([]ReplacedPeriod, error) {
	s := w.s
	target := s.db + "." + s.t.table
	q := replacedGroupsSQL(target, s.staging, []string{"BillingPeriodStart", "BillingAccountId"},
		"max(BillingPeriodEnd) AS period_end", "sum(BilledCost)",
		"BillingPeriodStart, period_end, BillingAccountId")
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("summarize import into %s: %w", target, err)
	}
	defer rows.Close()
	var out []ReplacedPeriod
	for rows.Next() {
		var p ReplacedPeriod
		if err := rows.Scan(&p.Start, &p.End, &p.BillingAccountID, &p.Rows, &p.BilledCost, &p.PreviousRows); err != nil {
			return nil, fmt.Errorf("summarize import into %s: %w", target, err)
		}
		p.Start, p.End = p.Start.UTC(), p.End.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// AllocationWriter writes one import of OpenCost allocations, the way SpendWriter writes
// spend: Commit replaces, in the allocation table, every (window start, window end,
// cluster) the import has rows for with exactly those rows. It is not safe for concurrent
// use.
type AllocationWriter struct {
	s *stagedImport
}

// NewAllocationWriter creates the staging table of a new import into database.allocation.
func NewAllocationWriter(ctx context.Context, conn driver.Conn, database string) (*AllocationWriter, error) {
	s, err := newStagedImport(ctx, conn, database, allocationStaged)
	if err != nil {
		return nil, err
	}
	return &AllocationWriter{s: s}, nil
}

// ImportID identifies the import: its rows carry it in the ImportId column.
func (w *AllocationWriter) ImportID() string { return w.s.id }

// Write adds b to the staging table, as SpendWriter.Write does; b is not retained.
func (w *AllocationWriter) Write(ctx context.Context, b *AllocationBlock) error {
	if b.Len() == 0 {
		return w.s.send(ctx, 0, 0, nil)
	}
	return w.s.send(ctx, b.Len(), b.Bytes(), b.columns(w.s.id))
}

// ReplacedWindow is one allocation window of one cluster that a Commit replaced.
type ReplacedWindow struct {
	Start, End   time.Time // UTC
	Cluster      string
	Rows         uint64  // rows the import stored for it
	PreviousRows uint64  // rows it held before
	TotalCost    float64 // sum of the import's TotalCost
}

// AllocationCommit is what an AllocationWriter's Commit replaced.
type AllocationCommit struct {
	ImportID   string
	Windows    []ReplacedWindow // ordered by start, end, cluster
	Partitions []string
}

// Commit swaps the import's windows into the allocation table and drops the staging table,
// with SpendWriter.Commit's guarantees.
func (w *AllocationWriter) Commit(ctx context.Context) (AllocationCommit, error) {
	c := AllocationCommit{ImportID: w.s.id}
	var err error
	c.Partitions, err = w.s.commit(ctx, func(ctx context.Context) error {
		c.Windows, err = w.windows(ctx)
		return err
	})
	return c, err
}

// Abort drops the staging table; the allocation table is left as it was.
func (w *AllocationWriter) Abort(ctx context.Context) error { return w.s.abort(ctx) }

func (w *AllocationWriter) windows(ctx context.Context) ([]ReplacedWindow, error) {
	s := w.s
	target := s.db + "." + s.t.table
	q := replacedGroupsSQL(target, s.staging, []string{"WindowStart", "WindowEnd", "Cluster"},
		"", "sum(TotalCost)", "WindowStart, WindowEnd, Cluster")
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("summarize import into %s: %w", target, err)
	}
	defer rows.Close()
	var out []ReplacedWindow
	for rows.Next() {
		var r ReplacedWindow
		if err := rows.Scan(&r.Start, &r.End, &r.Cluster, &r.Rows, &r.TotalCost, &r.PreviousRows); err != nil {
			return nil, fmt.Errorf("summarize import into %s: %w", target, err)
		}
		r.Start, r.End = r.Start.UTC(), r.End.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// replacedGroupsSQL summarizes an import per replaced group (keys): the rows and cost it
// brings, and how many rows the target held for the same group. extra is one more computed
// staging column (with its alias) or empty; out lists the leading result columns, in the order
// callers scan them, before new_rows, new_cost and previous_rows.
func replacedGroupsSQL(target, staging string, keys []string, extra, cost, out string) string {
	k := strings.Join(keys, ", ")
	if extra != "" {
		extra += ", "
	}
	return "SELECT " + out + ", new_rows, new_cost, previous_rows FROM (\n" +
		"  SELECT " + k + ", " + extra + "count() AS new_rows, " + cost + " AS new_cost\n" +
		"  FROM " + staging + " GROUP BY " + k + "\n" +
		") ANY LEFT JOIN (\n" +
		"  SELECT " + k + ", count() AS previous_rows FROM " + target + "\n" +
		"  WHERE (" + k + ") IN (SELECT DISTINCT " + k + " FROM " + staging + ")\n" +
		"  GROUP BY " + k + "\n" +
		") USING (" + k + ")\n" +
		"ORDER BY " + k
}
