package rollup

import (
	"slices"
	"time"
)

// SpendRow is one FOCUS cost and usage row as the spend table stores it, and as
// analyzer/focus reads it (focus.Row). Times are UTC and must lie within DateTime's range
// (1970 to 2106). A null FOCUS value is an empty string or a zero number.
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

// SpendField is a column of the spend table that holds the value of one FOCUS column, and
// where a SpendRow keeps it. Name is the table's column, which is named by its FOCUS column
// ID (analyzer/focus knows the IDs that differ or changed between FOCUS versions). Exactly
// one of String, Number and Time is set.
type SpendField struct {
	Name   string
	String func(*SpendRow) *string
	Number func(*SpendRow) *float64
	Time   func(*SpendRow) *time.Time
}

// SpendFields returns the spend table's FOCUS value columns, in the table's order: every
// column but Date (the day of ChargePeriodStart), the tags, the extra columns and the
// import's own (Source, ImportId, LineNumber). The caller owns the slice.
func SpendFields() []SpendField { return slices.Clone(spendFields) }

func timeField(name string, f func(*SpendRow) *time.Time) SpendField {
	return SpendField{Name: name, Time: f}
}

func stringField(name string, f func(*SpendRow) *string) SpendField {
	return SpendField{Name: name, String: f}
}

func numberField(name string, f func(*SpendRow) *float64) SpendField {
	return SpendField{Name: name, Number: f}
}

// spendFields is the one list of the FOCUS columns weir stores: the spend table's columns
// (with spendTable) and the FOCUS reader's fields derive from it.
var spendFields = []SpendField{
	timeField("BillingPeriodStart", func(r *SpendRow) *time.Time { return &r.BillingPeriodStart }),
	timeField("BillingPeriodEnd", func(r *SpendRow) *time.Time { return &r.BillingPeriodEnd }),
	timeField("ChargePeriodStart", func(r *SpendRow) *time.Time { return &r.ChargePeriodStart }),
	timeField("ChargePeriodEnd", func(r *SpendRow) *time.Time { return &r.ChargePeriodEnd }),

	stringField("Provider", func(r *SpendRow) *string { return &r.Provider }),
	stringField("HostProvider", func(r *SpendRow) *string { return &r.HostProvider }),
	stringField("Publisher", func(r *SpendRow) *string { return &r.Publisher }),
	stringField("InvoiceIssuer", func(r *SpendRow) *string { return &r.InvoiceIssuer }),
	stringField("BillingAccountId", func(r *SpendRow) *string { return &r.BillingAccountID }),
	stringField("BillingAccountName", func(r *SpendRow) *string { return &r.BillingAccountName }),
	stringField("BillingAccountType", func(r *SpendRow) *string { return &r.BillingAccountType }),
	stringField("SubAccountId", func(r *SpendRow) *string { return &r.SubAccountID }),
	stringField("SubAccountName", func(r *SpendRow) *string { return &r.SubAccountName }),
	stringField("SubAccountType", func(r *SpendRow) *string { return &r.SubAccountType }),
	stringField("InvoiceId", func(r *SpendRow) *string { return &r.InvoiceID }),
	stringField("ServiceCategory", func(r *SpendRow) *string { return &r.ServiceCategory }),
	stringField("ServiceSubcategory", func(r *SpendRow) *string { return &r.ServiceSubcategory }),
	stringField("ServiceName", func(r *SpendRow) *string { return &r.ServiceName }),
	stringField("ResourceId", func(r *SpendRow) *string { return &r.ResourceID }),
	stringField("ResourceName", func(r *SpendRow) *string { return &r.ResourceName }),
	stringField("ResourceType", func(r *SpendRow) *string { return &r.ResourceType }),
	stringField("RegionId", func(r *SpendRow) *string { return &r.RegionID }),
	stringField("RegionName", func(r *SpendRow) *string { return &r.RegionName }),
	stringField("AvailabilityZone", func(r *SpendRow) *string { return &r.AvailabilityZone }),
	stringField("SkuId", func(r *SpendRow) *string { return &r.SkuID }),
	stringField("SkuPriceId", func(r *SpendRow) *string { return &r.SkuPriceID }),
	stringField("ChargeCategory", func(r *SpendRow) *string { return &r.ChargeCategory }),
	stringField("ChargeClass", func(r *SpendRow) *string { return &r.ChargeClass }),
	stringField("ChargeFrequency", func(r *SpendRow) *string { return &r.ChargeFrequency }),
	stringField("ChargeDescription", func(r *SpendRow) *string { return &r.ChargeDescription }),
	stringField("PricingCategory", func(r *SpendRow) *string { return &r.PricingCategory }),
	stringField("BillingCurrency", func(r *SpendRow) *string { return &r.BillingCurrency }),

	numberField("BilledCost", func(r *SpendRow) *float64 { return &r.BilledCost }),
	numberField("EffectiveCost", func(r *SpendRow) *float64 { return &r.EffectiveCost }),
	numberField("ListCost", func(r *SpendRow) *float64 { return &r.ListCost }),
	numberField("ContractedCost", func(r *SpendRow) *float64 { return &r.ContractedCost }),
	numberField("ConsumedQuantity", func(r *SpendRow) *float64 { return &r.ConsumedQuantity }),
	stringField("ConsumedUnit", func(r *SpendRow) *string { return &r.ConsumedUnit }),
	numberField("PricingQuantity", func(r *SpendRow) *float64 { return &r.PricingQuantity }),
	stringField("PricingUnit", func(r *SpendRow) *string { return &r.PricingUnit }),
}

// spendTable is the spend table's columns in the order of sql/spend.sql: the FOCUS value
// columns with Date after the four times, then the tags, the extras and the import's own.
var spendTable = newRowTable(
	stagedTable{
		table:     TableSpend,
		partition: "toYYYYMM(BillingPeriodStart), cityHash64(BillingAccountId)",
		scope:     "BillingPeriodStart, BillingAccountId",
	},
	fieldColumns(spendFields[:4]),
	[]rowColumn[SpendRow]{dayColumn("Date", func(r *SpendRow) *time.Time { return &r.ChargePeriodStart })},
	fieldColumns(spendFields[4:]),
	pairColumns("TagKeys", "TagValues", func(r *SpendRow) ([]string, []string) { return r.TagKeys, r.TagValues }),
	pairColumns("ExtraKeys", "ExtraValues", func(r *SpendRow) ([]string, []string) { return r.ExtraKeys, r.ExtraValues }),
	[]rowColumn[SpendRow]{
		stringColumn("Source", func(r *SpendRow) *string { return &r.Source }),
		importIDColumn[SpendRow]("ImportId"),
		uint64Column("LineNumber", func(r *SpendRow) *uint64 { return &r.LineNumber }),
	},
)

func (SpendRow) table() *rowTable[SpendRow] { return spendTable }

func fieldColumns(fs []SpendField) []rowColumn[SpendRow] {
	out := make([]rowColumn[SpendRow], 0, len(fs))
	for _, f := range fs {
		switch {
		case f.Time != nil:
			out = append(out, timeColumn(f.Name, f.Time))
		case f.Number != nil:
			out = append(out, float64Column(f.Name, f.Number))
		default:
			out = append(out, stringColumn(f.Name, f.String))
		}
	}
	return out
}

// SpendBlock is a columnar block of spend rows on its way to ClickHouse (see Block).
type SpendBlock = Block[SpendRow]
