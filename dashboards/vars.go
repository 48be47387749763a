package dashboards

// Template variable names shared by the dashboards.
const (
	varDatasource = "datasource" // the ClickHouse data source
	varDatabase   = "database"   // the database holding weir's tables (hidden; the data source's default database)
	varService    = "service"
	varOperation  = "operation"
	varTraceID    = "trace_id"
	varMetric     = "metric"
	varAttrKey    = "attr_key"
	varAttrValue  = "attr_value"
)
