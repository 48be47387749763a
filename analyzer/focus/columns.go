// Package focus reads FinOps FOCUS cost and usage exports (FOCUS 1.0 to 1.3, and the
// renamed columns of 0.5 and 1.0-preview) as a stream of rows: CSV, plain or gzip
// (detected by its magic bytes), in constant memory whatever the file's size.
//
// Every known column ID, old or new, maps onto one field of Row; where two IDs of one
// field are both present the newer wins and the other is kept as an extra column:
//
//	Row field          column IDs, preferred first      where the change is documented
//	Provider           ServiceProviderName, ProviderName  1.3: ServiceProviderName replaces the deprecated ProviderName
//	HostProvider       HostProviderName                   1.3: new
//	Publisher          PublisherName                      1.3: deprecated (kept while exports carry it)
//	EffectiveCost      EffectiveCost, AmortizedCost       1.0-preview: AmortizedCost renamed to EffectiveCost
//	ChargeCategory     ChargeCategory, ChargeType         1.0-preview: ChargeType renamed to ChargeCategory
//	ConsumedQuantity   ConsumedQuantity, UsageQuantity    1.0: renamed from UsageQuantity
//	ConsumedUnit       ConsumedUnit, UsageUnit            1.0: renamed from UsageUnit
//	RegionID           RegionId, Region                   1.0: Region renamed to RegionId (RegionName added)
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
	"strings"
	"time"
)

// Row is one FOCUS cost and usage row. Times are UTC. An empty (null) value is an empty
// string or a zero number.
type Row struct {
	// Line is the line of the file the row starts on; the header is line 1.
	Line int64

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

	// TagKeys and TagValues are the members of the Tags JSON object, in its order.
	TagKeys, TagValues []string
	// ExtraKeys and ExtraValues are the other non-empty columns, by header name.
	ExtraKeys, ExtraValues []string
}

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

func strCol(f func(*Row) *string, names ...string) column {
	return column{names: names, kind: kindString, str: f}
}

func numCol(required bool, f func(*Row) *float64, names ...string) column {
	return column{names: names, kind: kindNumber, required: required, num: f}
}

func timeCol(f func(*Row) *time.Time, name string) column {
	return column{names: []string{name}, kind: kindTime, required: true, tim: f}
}

var columns = []column{
	timeCol(func(r *Row) *time.Time { return &r.BillingPeriodStart }, "BillingPeriodStart"),
	timeCol(func(r *Row) *time.Time { return &r.BillingPeriodEnd }, "BillingPeriodEnd"),
	timeCol(func(r *Row) *time.Time { return &r.ChargePeriodStart }, "ChargePeriodStart"),
	timeCol(func(r *Row) *time.Time { return &r.ChargePeriodEnd }, "ChargePeriodEnd"),

	strCol(func(r *Row) *string { return &r.Provider }, "ServiceProviderName", "ProviderName"),
	strCol(func(r *Row) *string { return &r.HostProvider }, "HostProviderName"),
	strCol(func(r *Row) *string { return &r.Publisher }, "PublisherName"),
	strCol(func(r *Row) *string { return &r.InvoiceIssuer }, "InvoiceIssuerName"),
	strCol(func(r *Row) *string { return &r.BillingAccountID }, "BillingAccountId"),
	strCol(func(r *Row) *string { return &r.BillingAccountName }, "BillingAccountName"),
	strCol(func(r *Row) *string { return &r.BillingAccountType }, "BillingAccountType"),
	strCol(func(r *Row) *string { return &r.SubAccountID }, "SubAccountId"),
	strCol(func(r *Row) *string { return &r.SubAccountName }, "SubAccountName"),
	strCol(func(r *Row) *string { return &r.SubAccountType }, "SubAccountType"),
	strCol(func(r *Row) *string { return &r.InvoiceID }, "InvoiceId"),
	strCol(func(r *Row) *string { return &r.ServiceCategory }, "ServiceCategory"),
	strCol(func(r *Row) *string { return &r.ServiceSubcategory }, "ServiceSubcategory"),
	strCol(func(r *Row) *string { return &r.ServiceName }, "ServiceName"),
	strCol(func(r *Row) *string { return &r.ResourceID }, "ResourceId"),
	strCol(func(r *Row) *string { return &r.ResourceName }, "ResourceName"),
	strCol(func(r *Row) *string { return &r.ResourceType }, "ResourceType"),
	strCol(func(r *Row) *string { return &r.RegionID }, "RegionId", "Region"),
	strCol(func(r *Row) *string { return &r.RegionName }, "RegionName"),
	strCol(func(r *Row) *string { return &r.AvailabilityZone }, "AvailabilityZone"),
	strCol(func(r *Row) *string { return &r.SkuID }, "SkuId"),
	strCol(func(r *Row) *string { return &r.SkuPriceID }, "SkuPriceId"),
	strCol(func(r *Row) *string { return &r.ChargeCategory }, "ChargeCategory", "ChargeType"),
	strCol(func(r *Row) *string { return &r.ChargeClass }, "ChargeClass"),
	strCol(func(r *Row) *string { return &r.ChargeFrequency }, "ChargeFrequency"),
	strCol(func(r *Row) *string { return &r.ChargeDescription }, "ChargeDescription"),
	strCol(func(r *Row) *string { return &r.PricingCategory }, "PricingCategory"),
	strCol(func(r *Row) *string { return &r.BillingCurrency }, "BillingCurrency"),
	strCol(func(r *Row) *string { return &r.ConsumedUnit }, "ConsumedUnit", "UsageUnit"),
	strCol(func(r *Row) *string { return &r.PricingUnit }, "PricingUnit"),

	numCol(true, func(r *Row) *float64 { return &r.BilledCost }, "BilledCost"),
	numCol(false, func(r *Row) *float64 { return &r.EffectiveCost }, "EffectiveCost", "AmortizedCost"),
	numCol(false, func(r *Row) *float64 { return &r.ListCost }, "ListCost"),
	numCol(false, func(r *Row) *float64 { return &r.ContractedCost }, "ContractedCost"),
	numCol(false, func(r *Row) *float64 { return &r.ConsumedQuantity }, "ConsumedQuantity", "UsageQuantity"),
	numCol(false, func(r *Row) *float64 { return &r.PricingQuantity }, "PricingQuantity"),

	{names: []string{"Tags"}, kind: kindTags},
}

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
