// Package analyzer joins telemetry with the infrastructure bill. Spend comes in through
// Import: FOCUS cost and usage exports and OpenCost allocation responses, stored through
// rollup's SpendWriter and AllocationWriter.
package analyzer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/klauspost/compress/gzip"

	"github.com/weirhq/weir/analyzer/focus"
	"github.com/weirhq/weir/analyzer/opencost"
	"github.com/weirhq/weir/rollup"
)

// Defaults of ImportOptions.
const (
	// DefaultBlockRows and DefaultBlockBytes bound a block of rows handed to the rollup
	// writer, whichever is reached first (bytes as ClickHouse receives them). With the
	// writer's INSERTs of about 4 MiB they bound the memory an import needs, whatever the
	// size of its files, to some tens of MiB (a block in memory takes about 1 KiB per row
	// more than its bytes).
	DefaultBlockRows  = 4096
	DefaultBlockBytes = 2 << 20
	// DefaultMaxBadRows is how many bad rows a FileReport keeps; all are counted.
	DefaultMaxBadRows = 100
	// DefaultProgressInterval is how often Progress is called while a file is read.
	DefaultProgressInterval = time.Second
)

// ImportOptions tune Import. The zero value is ready to use.
type ImportOptions struct {
	// BlockRows and BlockBytes bound the blocks sent to ClickHouse; 0 means the default.
	BlockRows, BlockBytes int
	// MaxBadRows is how many bad rows each FileReport keeps; 0 means DefaultMaxBadRows.
	MaxBadRows int
	// Progress, when set, is called about every ProgressInterval while a file is read and
	// once when it is done, from the goroutine that called Import.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Progress is how far the import of one file is.
type Progress struct {
	File   string
	Format Format // empty until the format is known
	// BytesRead of BytesTotal have been read from the file (compressed bytes for a gzip
	// file); BytesTotal is 0 or less when the size is unknown (a pipe).
	BytesRead, BytesTotal int64
	Rows, BadRows         uint64
	Elapsed               time.Duration
	Done                  bool // the file is read (or failed)
}

// Format is the kind of a file, detected from its content.
type Format string

// The formats Import reads.
const (
	FormatFOCUS    Format = "FOCUS"    // a FOCUS cost and usage export (CSV)
	FormatOpenCost Format = "OpenCost" // an OpenCost allocation API response (JSON)
)

// Source is one input of ImportSources.
type Source struct {
	// Name identifies the input in reports and in the tables' Source column.
	Name string
	// Open opens the input; the importer closes it.
	Open func() (io.ReadCloser, error)
	// Size is its size in bytes, for progress; 0 or less when unknown.
	Size int64
}

// BadRow is a row (FOCUS) or allocation (OpenCost) that was skipped.
type BadRow struct {
	Line   int64  // the line it starts on (FOCUS; the header is line 1), 0 for OpenCost
	Reason string // what is wrong
}

func (b BadRow) String() string {
	if b.Line > 0 {
		return fmt.Sprintf("line %d: %s", b.Line, b.Reason)
	}
	return b.Reason
}

// Period is a billing period of a billing account that a file has rows for.
type Period struct {
	Start, End       time.Time // UTC
	BillingAccountID string
	Rows             uint64
}

// Window is an allocation window of a cluster that a file has allocations for.
type Window struct {
	Start, End time.Time // UTC
	Cluster    string
	Rows       uint64
}

// FileReport is what Import made of one file.
type FileReport struct {
	Name   string
	Format Format
	// FOCUSVersion is the newest FOCUS version whose columns the header has (focus.Reader.Version).
	FOCUSVersion string
	// Bytes is how much was read from the file.
	Bytes int64
	// Rows were good and staged; BadRows were skipped, and the first ImportOptions.MaxBadRows
	// of them are in Bad.
	Rows, BadRows uint64
	Bad           []BadRow
	// Cost is the sum of BilledCost (FOCUS) or TotalCost (OpenCost) over Rows.
	Cost float64
	// EffectiveCost is the sum of EffectiveCost over a FOCUS file's rows: what was paid after
	// discounts, credits and commitments. The report prices by it; it differs from BilledCost
	// with savings plans, reservations or credits.
	EffectiveCost float64
	// Periods (FOCUS) and Windows (OpenCost) are what the file has rows for, sorted.
	Periods []Period
	Windows []Window
	Elapsed time.Duration
	// Err says why the file could not be read, or not completely: then the import
	// replaced nothing. Files after a failed one, and every file when one of them is
	// missing, are not read (ErrNotRead).
	Err error
}

// ErrNotRead is the FileReport.Err of files that were not read because another one failed.
var ErrNotRead = errors.New("not read: another file failed")

// Report is the outcome of an import.
type Report struct {
	Files []FileReport
	// Committed is true when the import replaced what its files cover (or had nothing to
	// replace); false when a file failed and everything was left as it was.
	Committed bool
	// Spend and Allocations are what the import replaced, nil when it had no such rows.
	Spend       *rollup.SpendCommit
	Allocations *rollup.AllocationCommit
}

// Rows is the number of good rows of every file.
func (r Report) Rows() (rows, bad uint64) {
	for _, f := range r.Files {
		rows += f.Rows
		bad += f.BadRows
	}
	return rows, bad
}

// Import reads the files at paths ("-" is standard input) and stores them in database as
// one import: FOCUS exports (CSV, plain or gzip) into the spend table, OpenCost allocation
// responses (JSON, plain or gzip) into the allocation table, the format detected from each
// file's content. The schema is migrated first if it is older than this binary's.
//
// Every (billing period, billing account) and (allocation window, cluster) the files have
// rows for is replaced as a whole when all files have been read: importing a period again
// replaces it, never doubles it. So give one import every file of a period (exports split
// into parts). Bad rows are skipped and reported with their line and reason; the good ones
// are kept. If a file cannot be read at all, or not to its end, or has no good row, nothing
// is replaced and Import returns an error along with the report.
//
// Files are read as streams, in blocks bounded by ImportOptions, so memory does not grow
// with their size.
func Import(ctx context.Context, conn driver.Conn, database string, paths []string, opts ImportOptions) (Report, error) {
	sources := make([]Source, 0, len(paths))
	var rep Report
	var errs []error
	for _, p := range paths {
		if p == "-" {
			sources = append(sources, Source{Name: "stdin", Open: func() (io.ReadCloser, error) { return io.NopCloser(os.Stdin), nil }})
			continue
		}
		st, err := os.Stat(p)
		if err == nil && st.IsDir() {
			err = fmt.Errorf("%s is a directory", p)
		}
		if err != nil {
			rep.Files = append(rep.Files, FileReport{Name: p, Err: err})
			errs = append(errs, err)
			continue
		}
		sources = append(sources, Source{Name: p, Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(p) }})
	}
	if len(errs) > 0 {
		// Report every path, in order: the ones that exist were not read.
		rep.Files = rep.Files[:0]
		for _, p := range paths {
			fr := FileReport{Name: p, Err: ErrNotRead}
			if st, err := os.Stat(p); err != nil {
				fr.Err = err
			} else if st.IsDir() {
				fr.Err = fmt.Errorf("%s is a directory", p)
			}
			rep.Files = append(rep.Files, fr)
		}
		return rep, fmt.Errorf("import: nothing replaced: %w", errors.Join(errs...))
	}
	return ImportSources(ctx, conn, database, sources, opts)
}

// ImportSources is Import over inputs that need not be files.
func ImportSources(ctx context.Context, conn driver.Conn, database string, sources []Source, opts ImportOptions) (rep Report, err error) {
	if err := rollup.ValidateDatabase(database); err != nil {
		return rep, err
	}
	if len(sources) == 0 {
		return rep, errors.New("import: no files")
	}
	if _, err := rollup.Migrate(ctx, conn, database, 0); err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	im := &importer{conn: conn, db: database, opts: opts.withDefaults()}
	defer func() {
		if !rep.Committed {
			err = errors.Join(err, im.abort())
		}
	}()
	var failed error
	for _, src := range sources {
		if failed != nil {
			rep.Files = append(rep.Files, FileReport{Name: src.Name, Err: ErrNotRead})
			continue
		}
		fr := im.readFile(ctx, src)
		rep.Files = append(rep.Files, fr)
		if fr.Err != nil {
			failed = fmt.Errorf("%s: %w", src.Name, fr.Err)
		}
	}
	if failed == nil {
		failed = im.flush(ctx)
	}
	if failed != nil {
		return rep, fmt.Errorf("import: nothing replaced: %w", failed)
	}
	if im.spend != nil {
		c, err := im.spend.Commit(ctx)
		rep.Spend = &c
		if err != nil {
			return rep, fmt.Errorf("import: %w", err)
		}
	}
	if im.alloc != nil {
		c, err := im.alloc.Commit(ctx)
		rep.Allocations = &c
		if err != nil {
			return rep, fmt.Errorf("import: %w (the spend rows were replaced)", err)
		}
	}
	rep.Committed = true
	return rep, nil
}

func (o ImportOptions) withDefaults() ImportOptions {
	if o.BlockRows <= 0 {
		o.BlockRows = DefaultBlockRows
	}
	if o.BlockBytes <= 0 {
		o.BlockBytes = DefaultBlockBytes
	}
	if o.MaxBadRows <= 0 {
		o.MaxBadRows = DefaultMaxBadRows
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	return o
}

// importer holds one import's writers and the blocks it fills, reused from file to file.
type importer struct {
	conn driver.Conn
	db   string
	opts ImportOptions

	spend      *rollup.SpendWriter
	spendBlock rollup.SpendBlock
	alloc      *rollup.AllocationWriter
	allocBlock rollup.AllocationBlock

	// progress of the file being read
	file      *FileReport
	counter   *countingReader
	size      int64
	start     time.Time
	lastTick  time.Time
	sinceTick int
}

// readFile reads one source into the staging tables.
func (im *importer) readFile(ctx context.Context, src Source) (fr FileReport) {
	fr.Name = src.Name
	im.file, im.size, im.start, im.lastTick = &fr, src.Size, time.Now(), time.Now()
	defer func() {
		fr.Elapsed = time.Since(im.start)
		if im.counter != nil {
			fr.Bytes = im.counter.n
		}
		if fr.Err == nil && fr.Rows == 0 && fr.BadRows > 0 {
			fr.Err = fmt.Errorf("none of its %d rows could be read (first: %s)", fr.BadRows, fr.Bad[0])
		}
		im.progress(true)
		im.file, im.counter = nil, nil
	}()
	rc, err := src.Open()
	if err != nil {
		fr.Err = err
		return fr
	}
	defer rc.Close()
	im.counter = &countingReader{r: rc}
	content, format, closeGz, err := sniff(im.counter)
	if err != nil {
		fr.Err = err
		return fr
	}
	defer closeGz()
	fr.Format = format
	switch format {
	case FormatOpenCost:
		err = im.readOpenCost(ctx, &fr, content)
	default:
		err = im.readFOCUS(ctx, &fr, content)
	}
	if err != nil {
		fr.Err = err
	}
	return fr
}

func (im *importer) readFOCUS(ctx context.Context, fr *FileReport, in io.Reader) error {
	rd, err := focus.NewReader(in)
	if err != nil {
		return err
	}
	defer rd.Close()
	fr.FOCUSVersion = rd.Version()
	if im.spend == nil {
		if im.spend, err = rollup.NewSpendWriter(ctx, im.conn, im.db); err != nil {
			return err
		}
	}
	type periodKey struct {
		start   int64
		account string
	}
	periods := map[periodKey]*Period{}
	var last int64 // the line of the last row read, for an error's context
	for {
		row, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *focus.RowError
		if errors.As(err, &re) {
			im.bad(BadRow{Line: re.Line, Reason: re.Reason})
			last = re.Line
			if err := im.tick(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read after line %d: %w", max(last, 1), err)
		}
		last = int64(row.LineNumber)
		row.Source = fr.Name // the reader's row is the table's; the next Read overwrites it
		im.spendBlock.Append(row)
		fr.Rows++
		fr.Cost += row.BilledCost
		fr.EffectiveCost += row.EffectiveCost
		k := periodKey{row.BillingPeriodStart.Unix(), row.BillingAccountID}
		p := periods[k]
		if p == nil {
			p = &Period{Start: row.BillingPeriodStart, End: row.BillingPeriodEnd, BillingAccountID: row.BillingAccountID}
			periods[k] = p
		}
		p.Rows++
		if im.spendBlock.Len() >= im.opts.BlockRows || im.spendBlock.Bytes() >= im.opts.BlockBytes {
			if err := im.flushSpend(ctx); err != nil {
				return err
			}
		}
		if err := im.tick(ctx); err != nil {
			return err
		}
	}
	for _, p := range periods {
		fr.Periods = append(fr.Periods, *p)
	}
	sort.Slice(fr.Periods, func(i, j int) bool {
		a, b := fr.Periods[i], fr.Periods[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return a.BillingAccountID < b.BillingAccountID
	})
	return nil
}

func (im *importer) readOpenCost(ctx context.Context, fr *FileReport, in io.Reader) error {
	rd, err := opencost.NewReader(in)
	if err != nil {
		return err
	}
	defer rd.Close()
	if im.alloc == nil {
		if im.alloc, err = rollup.NewAllocationWriter(ctx, im.conn, im.db); err != nil {
			return err
		}
	}
	type windowKey struct {
		start, end int64
		cluster    string
	}
	windows := map[windowKey]*Window{}
	for {
		a, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var ee *opencost.EntryError
		if errors.As(err, &ee) {
			im.bad(BadRow{Reason: ee.Error()})
			if err := im.tick(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		a.Source = fr.Name
		im.allocBlock.Append(a)
		fr.Rows++
		fr.Cost += a.TotalCost
		k := windowKey{a.WindowStart.Unix(), a.WindowEnd.Unix(), a.Cluster}
		w := windows[k]
		if w == nil {
			w = &Window{Start: a.WindowStart, End: a.WindowEnd, Cluster: a.Cluster}
			windows[k] = w
		}
		w.Rows++
		if im.allocBlock.Len() >= im.opts.BlockRows || im.allocBlock.Bytes() >= im.opts.BlockBytes {
			if err := im.flushAllocations(ctx); err != nil {
				return err
			}
		}
		if err := im.tick(ctx); err != nil {
			return err
		}
	}
	for _, w := range windows {
		fr.Windows = append(fr.Windows, *w)
	}
	sort.Slice(fr.Windows, func(i, j int) bool {
		a, b := fr.Windows[i], fr.Windows[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if !a.End.Equal(b.End) {
			return a.End.Before(b.End)
		}
		return a.Cluster < b.Cluster
	})
	return nil
}

func (im *importer) bad(b BadRow) {
	fr := im.file
	fr.BadRows++
	if len(fr.Bad) < im.opts.MaxBadRows {
		fr.Bad = append(fr.Bad, b)
	}
}

// tick reports progress about every ProgressInterval and notices a canceled context.
func (im *importer) tick(ctx context.Context) error {
	im.sinceTick++
	if im.sinceTick < 1024 {
		return nil
	}
	im.sinceTick = 0
	if err := ctx.Err(); err != nil {
		return err
	}
	if time.Since(im.lastTick) >= im.opts.ProgressInterval {
		im.lastTick = time.Now()
		im.progress(false)
	}
	return nil
}

func (im *importer) progress(done bool) {
	if im.opts.Progress == nil || im.file == nil {
		return
	}
	p := Progress{File: im.file.Name, Format: im.file.Format, BytesTotal: im.size,
		Rows: im.file.Rows, BadRows: im.file.BadRows, Elapsed: time.Since(im.start), Done: done}
	if im.counter != nil {
		p.BytesRead = im.counter.n
	}
	im.opts.Progress(p)
}

func (im *importer) flushSpend(ctx context.Context) error {
	if im.spendBlock.Len() == 0 {
		return nil
	}
	err := im.spend.Write(ctx, &im.spendBlock)
	im.spendBlock.Reset()
	return err
}

func (im *importer) flushAllocations(ctx context.Context) error {
	if im.allocBlock.Len() == 0 {
		return nil
	}
	err := im.alloc.Write(ctx, &im.allocBlock)
	im.allocBlock.Reset()
	return err
}

// flush sends what the blocks still hold.
func (im *importer) flush(ctx context.Context) error {
	return errors.Join(im.flushSpend(ctx), im.flushAllocations(ctx))
}

// abort drops the staging tables, on a context of its own so a canceled import cleans up.
func (im *importer) abort() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if im.spend != nil {
		errs = append(errs, im.spend.Abort(ctx))
	}
	if im.alloc != nil {
		errs = append(errs, im.alloc.Abort(ctx))
	}
	return errors.Join(errs...)
}

// countingReader counts the bytes read through it, for progress.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sniff returns r's content (gunzipped when it starts with gzip's magic bytes) and its
// format: OpenCost when the first character that is not white space (or a byte order mark)
// opens a JSON object or array, FOCUS otherwise.
func sniff(r io.Reader) (io.Reader, Format, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	closeGz := func() {}
	var content *bufio.Reader = br
	if magic, err := br.Peek(2); err != nil && !errors.Is(err, io.EOF) {
		return nil, "", closeGz, fmt.Errorf("read: %w", err)
	} else if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", closeGz, fmt.Errorf("gzip: %w", err)
		}
		closeGz = func() { _ = gz.Close() }
		content = bufio.NewReaderSize(gz, 64<<10)
	}
	for n := 64; ; n *= 2 {
		head, err := content.Peek(n)
		rest := head
		if len(rest) >= 3 && string(rest[:3]) == "\ufeff" {
			rest = rest[3:]
		}
		for _, c := range rest {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '{', '[':
				return content, FormatOpenCost, closeGz, nil
			default:
				return content, FormatFOCUS, closeGz, nil
			}
		}
		if err != nil || n >= 64<<10 {
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
				closeGz()
				return nil, "", func() {}, fmt.Errorf("read: %w", err)
			}
			// Empty or all white space: let the FOCUS reader say so.
			return content, FormatFOCUS, closeGz, nil
		}
	}
}
