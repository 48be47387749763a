package dashboards

import (
	"encoding/json"
	"errors"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// PluginID is the Grafana plugin ID of the ClickHouse data source the dashboards query.
const PluginID = "grafana-clickhouse-datasource"

// DatasourceUID is the UID that provisioning/datasources/clickhouse.yaml gives the data
// source; the dashboards' datasource variable defaults to it.
const DatasourceUID = "weir-clickhouse"

// Format is how the ClickHouse data source shapes a result (sqlutil.FormatQueryOption in the
// plugin's backend).
type Format int

// The plugin's formats.
const (
	FormatTimeSeries Format = 0 // long results become one series per string column value
	FormatTable      Format = 1
	FormatLogs       Format = 2
	FormatTrace      Format = 3 // the frame is shown by the trace view
)

// ClickHouseQuery is a raw-SQL target of grafana-clickhouse-datasource (plugin v4), as the
// plugin stores it in a panel's targets. The SDK has no type for it, so this one implements
// the SDK's dataquery variant (see RegisterClickHouseQuery).
type ClickHouseQuery struct {
	RefId      string                `json:"refId"`
	Hide       *bool                 `json:"hide,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	// EditorType is always "sql": the query is RawSql as written.
	EditorType string `json:"editorType"`
	// QueryType is the editor's display hint: "timeSeries", "table" or "traces".
	QueryType string `json:"queryType"`
	// RawSql is the SQL with the plugin's macros ($__fromTime, $__toTime, $__interval_s) and
	// Grafana's template variables still in it.
	RawSql string `json:"rawSql"`
	Format Format `json:"format"`
}

var _ variants.Dataquery = ClickHouseQuery{}

// ImplementsDataqueryVariant marks ClickHouseQuery as a dataquery for the SDK.
func (ClickHouseQuery) ImplementsDataqueryVariant() {}

// DataqueryType is the plugin ID.
func (ClickHouseQuery) DataqueryType() string { return PluginID }

// Validate reports a query without SQL or refId.
func (q ClickHouseQuery) Validate() error {
	var errs []error
	if q.RefId == "" {
		errs = append(errs, errors.New("clickhouse query: empty refId"))
	}
	if q.RawSql == "" {
		errs = append(errs, errors.New("clickhouse query "+q.RefId+": empty rawSql"))
	}
	return errors.Join(errs...)
}

// Equals compares two queries field by field.
func (q ClickHouseQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(ClickHouseQuery)
	if !ok {
		return false
	}
	a, errA := json.Marshal(q)
	b, errB := json.Marshal(o)
	return errA == nil && errB == nil && string(a) == string(b)
}

// ClickHouseQueryVariantConfig tells the SDK's runtime how to read ClickHouseQuery targets
// back from JSON.
func ClickHouseQueryVariantConfig() variants.DataqueryConfig {
	unmarshal := func(raw []byte) (variants.Dataquery, error) {
		var q ClickHouseQuery
		if err := json.Unmarshal(raw, &q); err != nil {
			return nil, err
		}
		return q, nil
	}
	return variants.DataqueryConfig{
		Identifier:                 PluginID,
		DataqueryUnmarshaler:       unmarshal,
		StrictDataqueryUnmarshaler: unmarshal,
	}
}

// RegisterClickHouseQuery registers ClickHouseQuery with the SDK's runtime (a process-wide
// registry), so that json.Unmarshal into dashboard.Dashboard reads targets of the ClickHouse
// data source as ClickHouseQuery. Call it once before unmarshalling; calling it again is harmless.
func RegisterClickHouseQuery() {
	cog.NewRuntime().RegisterDataqueryVariant(ClickHouseQueryVariantConfig())
}

// queryBuilder builds a ClickHouseQuery for the SDK's panel builders.
type queryBuilder struct {
	q ClickHouseQuery
}

var _ cog.Builder[variants.Dataquery] = (*queryBuilder)(nil)

func (b *queryBuilder) Build() (variants.Dataquery, error) {
	// The SDK's panel builders expect cog.BuildErrors from a target.
	if err := b.q.Validate(); err != nil {
		return nil, cog.MakeBuildErrors("clickhouse", err)
	}
	return b.q, nil
}

// chQuery is a target of the dashboards' ClickHouse data source variable.
func chQuery(refID string, format Format, sql string) *queryBuilder {
	queryType := "table"
	switch format {
	case FormatTimeSeries:
		queryType = "timeSeries"
	case FormatTrace:
		queryType = "traces"
	}
	return &queryBuilder{q: ClickHouseQuery{
		RefId:      refID,
		Datasource: datasourceRef(),
		EditorType: "sql",
		QueryType:  queryType,
		RawSql:     sql,
		Format:     format,
	}}
}

// datasourceRef points at the dashboards' datasource variable.
func datasourceRef() *common.DataSourceRef {
	typ, uid := PluginID, "${"+varDatasource+"}"
	return &common.DataSourceRef{Type: &typ, Uid: &uid}
}
