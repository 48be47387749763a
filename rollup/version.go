package rollup

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Version is a ClickHouse server version, as `SELECT version()` reports it.
type Version struct {
	Major, Minor, Patch int
}

// String formats v as major.minor.patch.
func (v Version) String() string {
	return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
}

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// ParseVersion parses "18.16.1", "24.8.4.13" or "24.8" into a Version; parts after the
// third are ignored.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("parse server version %q: want major.minor[.patch]", s)
	}
	var nums [3]int
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return Version{}, fmt.Errorf("parse server version %q: part %q is not a number", s, parts[i])
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2]}, nil
}

// DetectVersion asks the server for its version.
func DetectVersion(ctx context.Context, conn driver.Conn) (Version, error) {
	var s string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&s); err != nil {
		return Version{}, fmt.Errorf("detect server version: %w", err)
	}
	return ParseVersion(s)
}

// Features are the optional server capabilities the DDL uses when the server has them.
// The portable core (everything with all features off) runs on ClickHouse 18.16.
type Features struct {
	// LowCardinality wraps dictionary-friendly strings in LowCardinality(String).
	// 18.16 has it only behind allow_experimental_low_cardinality_type; 19.3 made it ordinary.
	LowCardinality bool
	// Codecs adds per-column compression codecs (Delta, DoubleDelta, Gorilla, ZSTD): 20.1+.
	Codecs bool
	// SkipIndexes adds a bloom-filter data-skipping index on TraceId: 20.1+ (experimental before).
	SkipIndexes bool
}

// FeaturesFor returns what weir switches on for a server of version v.
func FeaturesFor(v Version) Features {
	return Features{
		LowCardinality: v.AtLeast(19, 3),
		Codecs:         v.AtLeast(20, 1),
		SkipIndexes:    v.AtLeast(20, 1),
	}
}
