package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/weirhq/weir/rollup"
)

//go:generate go run ./cmd/gen -out json

// Dashboard is one generated dashboard: the file it is written to under json/ and its model.
type Dashboard struct {
	File  string
	Model dashboard.Dashboard
}

// JSON is the dashboard as it is committed: indented, with a trailing newline.
func (d Dashboard) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d.Model); err != nil {
		return nil, fmt.Errorf("marshal %s: %w", d.File, err)
	}
	return b.Bytes(), nil
}

// All builds every dashboard, in a fixed order.
func All() ([]Dashboard, error) {
	set, err := sqlTemplates()
	if err != nil {
		return nil, err
	}
	g := &gen{set: set}
	var out []Dashboard
	for _, d := range []struct {
		file  string
		build func(*gen) *dashboard.DashboardBuilder
	}{
		{"service-overview.json", serviceOverview},
		{"service-map.json", serviceMap},
		{"traces.json", traces},
		{"metrics-explorer.json", metricsExplorer},
		{"cost-efficiency.json", costEfficiency},
		{"weir-itself.json", weirItself},
	} {
		b := d.build(g)
		if g.err != nil {
			return nil, fmt.Errorf("%s: %w", d.file, g.err)
		}
		m, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.file, err)
		}
		out = append(out, Dashboard{File: d.file, Model: m})
	}
	return out, nil
}

// Write writes every dashboard into dir as <File>.
func Write(dir string) error {
	all, err := All()
	if err != nil {
		return err
	}
	for _, d := range all {
		b, err := d.JSON()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, d.File), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", d.File, err)
		}
	}
	return nil
}

// gen renders the SQL of the panels and remembers the first error, so that dashboard code
// reads as one builder chain.
type gen struct {
	set *template.Template
	err error
}

// sql renders an embedded SQL file.
func (g *gen) sql(file string, data any) string {
	s, err := render(g.set, file, data)
	if err != nil && g.err == nil {
		g.err = err
	}
	return s
}

// redByService is the tier-aware RED query (rollup.PanelSQL) per service for the service
// variable, over every operation: what the per-service tiers hold, so a week or a month of
// a service reads a row per bucket whatever its traffic. With quantiles, those percentiles
// replace the distribution columns.
func (g *gen) redByService(quantiles ...float64) string {
	return g.planned(rollup.PanelQuery{
		Signal:    rollup.SignalRED,
		In:        map[string]string{rollup.GroupService: "${" + varService + ":singlequote}"},
		GroupBy:   []string{rollup.GroupService},
		Quantiles: quantiles,
	})
}

// redByOperation is the tier-aware RED query per service and operation for the service and
// operation variables, from the per-operation tiers.
func (g *gen) redByOperation() string {
	return g.planned(rollup.PanelQuery{
		Signal: rollup.SignalRED,
		In: map[string]string{
			rollup.GroupService:  "${" + varService + ":singlequote}",
			rollup.GroupSpanName: "${" + varOperation + ":singlequote}",
		},
		GroupBy: []string{rollup.GroupService, rollup.GroupSpanName},
	})
}

// edges is the tier-aware service-graph query (rollup.PanelSQL), per client and server.
func (g *gen) edges() string {
	return g.planned(rollup.PanelQuery{
		Signal:  rollup.SignalEdges,
		GroupBy: []string{rollup.GroupClient, rollup.GroupServer},
	})
}

// planned is rollup's SQL for q, its tiers picked when the panel runs.
func (g *gen) planned(q rollup.PanelQuery) string {
	s, err := rollup.PanelSQL(q, panel())
	if err != nil && g.err == nil {
		g.err = err
	}
	return s
}

// tiers are the tiers of sig as a panel reads them (rollup.PanelTiers), finest first.
func (g *gen) tiers(sig rollup.Signal) []rollup.PanelRead {
	t, err := rollup.PanelTiers(sig, panel())
	if err != nil && g.err == nil {
		g.err = err
	}
	return t
}

// newDashboard starts a dashboard with the settings every weir dashboard shares and the
// datasource and database variables.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"weir"}).
		Editable().
		Timezone(common.TimeZoneBrowser).
		Time("now-6h", "now").
		Refresh("1m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder(varDatasource).
			Label("Data source").
			Type(PluginID).
			Current(dashboard.VariableOption{
				Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(DatasourceUID)},
				Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(DatasourceUID)},
			})).
		WithVariable(dashboard.NewQueryVariableBuilder(varDatabase).
			Label("Database").
			Description("The database holding weir's tables: the data source's default database.").
			Hide(dashboard.VariableHideHideVariable).
			Datasource(*datasourceRef()).
			Query(dashboard.StringOrMap{String: cog.ToPtr("SELECT currentDatabase()")}).
			Refresh(dashboard.VariableRefreshOnDashboardLoad)).
		Link(dashboard.NewDashboardLinkBuilder("weir").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"weir"}).
			AsDropdown(true).
			IncludeVars(false).
			KeepTime(true))
}

// queryVariable is a variable whose options are the rows of sql, refreshed when the time
// range changes. Multi-value variables offer All, which Grafana expands to every option
// (there is no custom all value), so ${name:singlequote} is always a list of quoted values.
func queryVariable(name, label, sql string, multi bool) *dashboard.QueryVariableBuilder {
	b := dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(*datasourceRef()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(sql)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortDisabled)
	if multi {
		b = b.Multi(true).IncludeAll(true).Current(allOption())
	}
	return b
}

// allOption selects All.
func allOption() dashboard.VariableOption {
	return dashboard.VariableOption{
		Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
		Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
	}
}

// unit sets a field's unit in an override.
func unit(u string) []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "unit", Value: u}}
}
