// Package focus reads FinOps FOCUS cost and usage exports (FOCUS 1.0 to 1.3, and the
// renamed columns of 0.5 and 1.0-preview) as a stream of rows: CSV, plain or gzip
// (detected by its magic bytes), in constant memory whatever the file's size.
//
// A Row is the spend table's row (rollup.SpendRow), and every FOCUS column the table keeps
// (rollup.SpendFields) is read from the column ID that is its name, or, where FOCUS names it
// otherwise or renamed it, from the IDs below; where two IDs of one column are both present
// the newer wins and the other is kept as an extra column:
//
//	spend column       column IDs, preferred first      where the change is documented
//	Provider           ServiceProviderName, ProviderName  1.3: ServiceProviderName replaces the deprecated ProviderName
//	HostProvider       HostProviderName                   1.3: new
//	Publisher          PublisherName                      1.3: deprecated (kept while exports carry it)
//	EffectiveCost      EffectiveCost, AmortizedCost       1.0-preview: AmortizedCost renamed to EffectiveCost
//	ChargeCategory     ChargeCategory, ChargeType         1.0-preview: ChargeType renamed to ChargeCategory
//	ConsumedQuantity   ConsumedQuantity, UsageQuantity    1.0: renamed from UsageQuantity
//	ConsumedUnit       ConsumedUnit, UsageUnit            1.0: renamed from UsageUnit
//	InvoiceIssuer      InvoiceIssuerName
//	RegionId           RegionId, Region                   1.0: Region renamed to RegionId (RegionName added)
//	ServiceSubcategory ServiceSubcategory                 1.1: new
//	BillingAccountType BillingAccountType                 1.2: new (also SubAccountType, InvoiceId)
//
// (Sources: the FOCUS specification's CHANGELOG.md and its column pages,
// specification/datasets/cost_and_usage/columns/{serviceprovidername,providername,
// publishername,hostprovidername}.md, in FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec.)
// Column IDs match without regard to case (InvoiceID and InvoiceId are the same column),
// and a UTF-8 byte order mark before the header is skipped.
//
// Columns without a field of their own — x_ custom columns, columns the specification
// does not define (such as an Id column some exporters add), and FOCUS columns weir keeps
// no column for (CommitmentDiscountId, SkuMeter, SkuPriceDetails, PricingCurrency, ...) —
// are kept, when not empty, in Row.ExtraKeys and Row.ExtraValues under their header name.
//
// Values: the literal NULL (or null) is an empty value. Date-times may carry a zone
// (2024-09-01T00:00:00Z, 2024-09-01T02:00:00+02:00) or not (2024-09-01 00:00:00, which is
// UTC, as FOCUS requires); a date alone is its midnight UTC. Tags is a JSON object whose
// members become Row.TagKeys and Row.TagValues in their order, values as text (strings
// unquoted, numbers and booleans as written, null empty, objects and arrays as compact
// JSON).
//
// A row that cannot be stored — a wrong number of columns, a malformed CSV record, a
// number or time that does not parse, Tags that are not a JSON object, or an empty
// BilledCost, ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart or BillingPeriodEnd —
// is reported as a *RowError with its line number and reason, and the reader goes on with
// the next row.
package focus

import (
	"slices"
	"strings"
	"time"

	"github.com/weirhq/weir/rollup"
)

// Row is one FOCUS cost and usage row: the spend table's row, which package rollup
// declares with its columns (rollup.SpendFields). The reader sets every field but Source,
// which the caller names. Times are UTC. An empty (null) value is an empty string or a
// zero number.
type Row = rollup.SpendRow

type kind uint8

const (
	kindString kind = iota
	kindNumber
	kindTime
	kindTags
)

// column is one Row field and the column IDs it is read from, preferred first.
type column struct {
	names    []string
	kind     kind
	required bool // the header must have it and no row may leave it empty
	str      func(*Row) *string
	num      func(*Row) *float64
	tim      func(*Row) *time.Time
}

// headerRequired are columns a file must have to be read as FOCUS at all; their values may
// still be empty (BillingAccountId) unless the column is also required per row.
var headerRequired = []string{"BilledCost", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "BillingAccountId"}

// rowRequired are the columns no row may leave empty.
var rowRequired = []string{"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "BilledCost"}

// columnIDs are the FOCUS column IDs of the spend columns that FOCUS names otherwise, or
// named otherwise in older versions, preferred first (see the package doc). Every other
// spend column is read from the column ID that is its name.
var columnIDs = map[string][]string{
	"Provider":         {"ServiceProviderName", "ProviderName"},
	"HostProvider":     {"HostProviderName"},
	"Publisher":        {"PublisherName"},
	"InvoiceIssuer":    {"InvoiceIssuerName"},
	"RegionId":         {"RegionId", "Region"},
	"ChargeCategory":   {"ChargeCategory", "ChargeType"},
	"ConsumedUnit":     {"ConsumedUnit", "UsageUnit"},
	"EffectiveCost":    {"EffectiveCost", "AmortizedCost"},
	"ConsumedQuantity": {"ConsumedQuantity", "UsageQuantity"},
}

// columns are the spend table's FOCUS columns, in its order, then Tags.
var columns = func() []column {
	var out []column
	for _, f := range rollup.SpendFields() {
		c := column{names: columnIDs[f.Name], required: slices.Contains(rowRequired, f.Name),
			str: f.String, num: f.Number, tim: f.Time}
		if c.names == nil {
			c.names = []string{f.Name}
		}
		switch {
		case f.Time != nil:
			c.kind = kindTime
		case f.Number != nil:
			c.kind = kindNumber
		default:
			c.kind = kindString
		}
		out = append(out, c)
	}
	return append(out, column{names: []string{"Tags"}, kind: kindTags})
}()

// versionMarkers are, newest first, columns introduced by each FOCUS version.
var versionMarkers = []struct {
	version string
	columns []string
}{
	{"1.3", []string{"ServiceProviderName", "HostProviderName", "ContractApplied", "AllocatedMethodId", "AllocatedResourceId"}},
	{"1.2", []string{"BillingAccountType", "SubAccountType", "InvoiceId", "PricingCurrency", "PricingCurrencyEffectiveCost"}},
	{"1.1", []string{"ServiceSubcategory", "SkuMeter", "SkuPriceDetails", "CapacityReservationId", "CommitmentDiscountQuantity"}},
	{"1.0", []string{"ChargeClass", "RegionId", "ConsumedQuantity", "ContractedCost", "CommitmentDiscountStatus"}},
}

// detectVersion is the newest FOCUS version whose new columns the header has, 0.5 when it
// has none: a lower bound, since a provider may leave out columns a version made
// conditional.
func detectVersion(has map[string]int) string {
	for _, m := range versionMarkers {
		for _, c := range m.columns {
			if _, ok := has[strings.ToLower(c)]; ok {
				return m.version
			}
		}
	}
	return "0.5"
}
