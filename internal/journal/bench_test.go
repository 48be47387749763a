package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var benchSizes = []int{200, 100 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("size=%dKB", n>>10)
	}
	return fmt.Sprintf("size=%dB", n)
}

// BenchmarkLog_Append appends records to a log in the page cache (SyncNone). Its peer,
// BenchmarkFile_Write, writes the same payloads with os.File.Write: the ratio is the cost of
// the journal's header, checksum, copy and lock.
func BenchmarkLog_Append(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			p := payload(1, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(1, p); err != nil {
					b.Fatal(err)
				}
				if l.Size() > 256<<20 { // keep the disk and the page cache out of it
					if err := l.TruncateBefore(l.End()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkFile_Write is BenchmarkLog_Append's peer: the payloads written to a plain file,
// which is replaced every 64 MiB as the log's segments are.
func BenchmarkFile_Write(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			dir := b.TempDir()
			n := 0
			create := func() *os.File {
				f, err := os.Create(filepath.Join(dir, fmt.Sprint(n)))
				if err != nil {
					b.Fatal(err)
				}
				if n >= 4 {
					_ = os.Remove(filepath.Join(dir, fmt.Sprint(n-4)))
				}
				n++
				return f
			}
			f := create()
			defer func() { _ = f.Close() }()
			p := payload(1, size)
			var w int64
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Write(p); err != nil {
					b.Fatal(err)
				}
				if w += int64(size); w >= 64<<20 {
					_ = f.Close()
					f, w = create(), 0
				}
			}
		})
	}
}

// BenchmarkFile_Rewrite is BenchmarkFile_Write into files written once before and kept, in
// turn, as a log that recycled its segments instead of deleting them would: their pages are in
// the page cache and their blocks allocated. Against BenchmarkFile_Write it measures what new
// segment files cost (not done: the journal's format would have to tell a recycled file's stale
// records from new ones).
func BenchmarkFile_Rewrite(b *testing.B) {
	const segment, files = 64 << 20, 4
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			dir := b.TempDir()
			p := payload(1, size)
			fs := make([]*os.File, files)
			for i := range fs {
				f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = f.Close() }()
				for w := 0; w < segment; w += size {
					if _, err := f.Write(p); err != nil {
						b.Fatal(err)
					}
				}
				fs[i] = f
			}
			i, w := 0, int64(0)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fs[i].WriteAt(p, w); err != nil {
					b.Fatal(err)
				}
				if w += int64(size); w+int64(size) > segment {
					i, w = (i+1)%files, 0
				}
			}
		})
	}
}

// BenchmarkLog_AppendParallel appends from several goroutines at once: the lock's cost.
func BenchmarkLog_AppendParallel(b *testing.B) {
	l, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := payload(1, 200)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(1, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReader_Next reads records back in order, from the page cache.
func BenchmarkReader_Next(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			p := payload(1, size)
			const records = 1000
			for range records {
				if _, err := l.Append(1, p); err != nil {
					b.Fatal(err)
				}
			}
			r := l.NewReader(0)
			defer r.Close()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i++; i > records {
					_ = r.Close()
					r, i = l.NewReader(0), 1
				}
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
