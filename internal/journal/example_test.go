package journal_test

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/weirhq/weir/internal/journal"
)

func Example() {
	dir, err := os.MkdirTemp("", "journal")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	l, err := journal.Open(dir, journal.Options{MaxBytes: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	// A receiver acknowledges a request once Append has returned.
	for _, req := range []string{"first request", "second request"} {
		pos, err := l.Append(1, []byte(req))
		if errors.Is(err, journal.ErrFull) {
			fmt.Println("refuse the request: the journal is full")
			continue
		} else if err != nil {
			panic(err)
		}
		fmt.Println("acknowledged at", pos)
	}

	// A consumer reads from where it last stopped, and frees what it has finished with.
	r := l.NewReader(l.Start())
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			panic(err)
		}
		fmt.Printf("%d: %s\n", rec.Pos, rec.Payload)
	}
	if err := l.TruncateBefore(r.Pos()); err != nil {
		panic(err)
	}
	fmt.Println("end", l.End(), "size", l.Size())
	// Output:
	// acknowledged at 0
	// acknowledged at 22
	// 0: first request
	// 22: second request
	// end 45 size 45
}
