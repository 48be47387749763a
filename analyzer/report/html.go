package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// HTML chart limits.
const (
	// MaxChartServices is how many services (the most expensive) get a spend-vs-traffic panel.
	MaxChartServices = 6
	// MaxChartHotspots is how many hotspots the impact bar chart shows.
	MaxChartHotspots = 10
)

// Geometry of a small-multiple panel.
const (
	panelW, panelH         = 320.0, 170.0
	plotL, plotR           = 46.0, 274.0 // plot area x
	plotT, plotB           = 14.0, 134.0 // plot area y
	hotLabelW, hotBarW     = 300.0, 330.0
	hotRowH, hotTop, hotW  = 26.0, 8.0, 760.0
	hotValueGap            = 6.0
	dayLabelY              = 150.0
	spendColor, trafficCol = "#d9480f", "#91a7ff"
)

type panel struct {
	Service             string
	Spend, Requests     string
	MaxSpend, MaxReqs   string
	Bars                []bar
	Points              []point
	Line                string // polyline points
	Days                []label
	W, H                float64
	PlotT, PlotB        float64
	PlotL, PlotR        float64
	SpendCol, TraffiCol string
}

type bar struct {
	X, Y, W, H float64
	Title      string
}

type point struct {
	X, Y  float64
	Title string
}

type label struct {
	X    float64
	Text string
}

type hotBar struct {
	Y, W, TextY float64
	Label       string
	Value       string
	Severity    string
	Title       string
	ValueX      float64
}

type htmlView struct {
	R                *Report
	Period           string
	TotalSpend       string
	PrevSpend        string
	SpendChange      string
	PerMillion       string
	PrevPerMillion   string
	PerMillionChange string
	Requests         string
	RequestsChange   string
	Impact           string
	Standing, Folded int // hotspots that stand, and those folded into another (SeeAlso)
	Unmapped, Idle   string
	Panels           []panel
	HotBars          []hotBar
	HotH             float64
	HotW             float64
	HotLabelW        float64
	Hotspots         []htmlHotspot
	Services         []htmlService
	Currency         string
	CostColumn       string
}

type htmlHotspot struct {
	Hotspot
	Impact   string
	Avoid    string
	Evidence []string
}

type htmlService struct {
	Service, Spend, Requests, CostPer1k, Change, P95, ErrorRate string
	Up                                                          bool
}

var dayNames = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

func (r *Report) htmlView() htmlView {
	t := r.Totals
	v := htmlView{
		R:          r,
		Period:     fmt.Sprintf("%s – %s (UTC), compared with %s", r.From.Format("Mon 2 Jan 2006"), r.To.AddDate(0, 0, -1).Format("Mon 2 Jan 2006"), r.PreviousWeek),
		TotalSpend: Money(t.Spend), PrevSpend: Money(t.PreviousSpend), SpendChange: Pct(t.SpendChange),
		PerMillion: Money(t.SpendPerMillionRequests), PrevPerMillion: Money(t.PrevSpendPerMillionRequests),
		PerMillionChange: Pct(t.SpendPerMillionChange), Requests: Count(t.Requests), RequestsChange: Pct(t.RequestsChange),
		Impact: Money(t.HotspotImpactPerWeek), Unmapped: Money(t.Unmapped), Idle: Money(t.Idle),
		HotW: hotW, HotLabelW: hotLabelW, Currency: r.Currency, CostColumn: r.CostColumn,
	}
	for i, s := range r.Daily {
		if i == MaxChartServices {
			break
		}
		v.Panels = append(v.Panels, makePanel(s))
	}
	var maxImpact float64
	for i, h := range r.Hotspots {
		if i == MaxChartHotspots {
			break
		}
		maxImpact = max(maxImpact, h.ImpactPerWeek)
	}
	for i, h := range r.Hotspots {
		if i == MaxChartHotspots {
			break
		}
		w := 0.0
		if maxImpact > 0 {
			w = h.ImpactPerWeek / maxImpact * hotBarW
		}
		w = max(w, 2) // a visible stub for findings without a price
		y := hotTop + float64(i)*hotRowH
		v.HotBars = append(v.HotBars, hotBar{
			Y: y + 3, W: w, TextY: y + hotRowH/2 + 4,
			Label:    truncate(fmt.Sprintf("%d. %s · %s", h.Rank, h.Service, h.Rule), 44),
			Value:    Money(h.ImpactPerWeek),
			Severity: string(h.Severity),
			Title:    fmt.Sprintf("%s %s %s: %s a week", h.Service, h.Rule, h.Operation, Money(h.ImpactPerWeek)),
			ValueX:   hotLabelW + w + hotValueGap,
		})
	}
	v.HotH = hotTop*2 + float64(len(v.HotBars))*hotRowH
	for _, h := range r.Hotspots {
		v.Hotspots = append(v.Hotspots, htmlHotspot{Hotspot: h, Impact: Money(h.ImpactPerWeek), Avoid: Num(h.AvoidableCallsPerWeek), Evidence: EvidenceLines(h)})
		if h.Evidence.SeeAlso != "" {
			v.Folded++
		} else {
			v.Standing++
		}
	}
	for _, s := range r.Services {
		v.Services = append(v.Services, htmlService{
			Service: s.Service, Spend: Money(s.Spend), Requests: Count(s.Requests), CostPer1k: Money(s.CostPer1kRequests),
			Change: Pct(s.CostPer1kChange), P95: Ms(s.P95Ms), ErrorRate: Ratio(s.ErrorRate),
			Up: s.CostPer1kChange != nil && *s.CostPer1kChange > 0.1,
		})
	}
	return v
}

// makePanel lays out one service's week: request bars (left to right, Monday first) scaled
// to the week's busiest day, and the spend line scaled to the week's most expensive day.
func makePanel(s Series) panel {
	p := panel{Service: s.Service, W: panelW, H: panelH, PlotT: plotT, PlotB: plotB, PlotL: plotL, PlotR: plotR,
		SpendCol: spendColor, TraffiCol: trafficCol}
	var maxSpend, spend float64
	var maxReqs, reqs uint64
	for _, d := range s.Days {
		maxSpend, maxReqs = max(maxSpend, d.Spend), max(maxReqs, d.Requests)
		spend += d.Spend
		reqs += d.Requests
	}
	p.Spend, p.Requests, p.MaxSpend, p.MaxReqs = Money(spend), Count(reqs), Money(maxSpend), Count(maxReqs)
	n := len(s.Days)
	if n == 0 {
		return p
	}
	slot := (plotR - plotL) / float64(n)
	var line []string
	for i, d := range s.Days {
		x := plotL + slot*float64(i)
		h := 0.0
		if maxReqs > 0 {
			h = float64(d.Requests) / float64(maxReqs) * (plotB - plotT)
		}
		p.Bars = append(p.Bars, bar{X: x + slot*0.15, Y: plotB - h, W: slot * 0.7, H: h,
			Title: fmt.Sprintf("%s: %s requests", d.Date, Count(d.Requests))})
		y := plotB
		if maxSpend > 0 {
			y = plotB - d.Spend/maxSpend*(plotB-plotT)
		}
		cx := x + slot/2
		p.Points = append(p.Points, point{X: cx, Y: y, Title: fmt.Sprintf("%s: spend %s", d.Date, Money(d.Spend))})
		line = append(line, fmt.Sprintf("%.1f,%.1f", cx, y))
		name := d.Date
		if t, err := time.Parse(time.DateOnly, d.Date); err == nil {
			name = dayNames[(int(t.Weekday())+6)%7]
		}
		p.Days = append(p.Days, label{X: cx, Text: name})
	}
	p.Line = strings.Join(line, " ")
	return p
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// WriteHTML writes r as one self-contained HTML file: inline CSS and inline SVG charts, no
// scripts, no external resources.
func (r *Report) WriteHTML(w io.Writer) error {
	return htmlTemplate.Execute(w, r.htmlView())
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f": func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>weir weekly report {{.R.Week}}</title>
<style>
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;padding:24px 32px;color:#212529;background:#f8f9fa}
h1{margin:0 0 4px;font-size:26px}h2{margin:32px 0 12px;font-size:20px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
.period{color:#6c757d;margin-bottom:20px}
.cards{display:flex;flex-wrap:wrap;gap:16px}
.card{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:14px 18px;min-width:200px}
.card .k{color:#6c757d;font-size:13px}.card .v{font-size:24px;font-weight:600;margin:4px 0}.card .d{font-size:13px;color:#495057}
.panels{display:flex;flex-wrap:wrap;gap:12px}
.panel{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:8px}
.panel h3{margin:0 0 2px;font-size:15px}.panel .sub{font-size:12px;color:#6c757d}
svg text{font-family:inherit;font-size:11px;fill:#495057}
.legend span{display:inline-block;margin-right:16px;font-size:13px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:4px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px}
th,td{border:1px solid #dee2e6;padding:6px 10px;text-align:right}th{background:#f1f3f5}
td:first-child,th:first-child{text-align:left}
.up{color:#c92a2a;font-weight:600}
.hot{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:12px 16px;margin-bottom:12px}
.hot h3{margin:0 0 6px;font-size:16px}.hot ul{margin:6px 0}.hot code{font-size:12px}
.sev{font-size:12px;padding:1px 6px;border-radius:4px;color:#fff;background:#868e96}
.sev-warning{background:#f08c00}.sev-critical{background:#e03131}
.muted{color:#6c757d}
</style>
</head>
<body>
<h1>weir weekly report: {{.R.Week}}</h1>
<div class="period">{{.Period}}</div>
<div class="cards">
 <div class="card"><div class="k">Total spend{{with .Currency}} ({{.}}){{end}}{{with .CostColumn}}, {{.}}{{end}}</div><div class="v">{{.TotalSpend}}</div><div class="d">{{.SpendChange}} vs {{.PrevSpend}}</div></div>
 <div class="card"><div class="k">Spend per million requests</div><div class="v">{{.PerMillion}}</div><div class="d">{{.PerMillionChange}} vs {{.PrevPerMillion}}</div></div>
 <div class="card"><div class="k">Requests served, all services</div><div class="v">{{.Requests}}</div><div class="d">{{.RequestsChange}} week over week; every hop counts</div></div>
 <div class="card"><div class="k">Hotspot impact / week</div><div class="v">{{.Impact}}</div><div class="d">{{.Standing}} hotspots{{if .Folded}} ({{.Folded}} more folded into them){{end}} · unmapped {{.Unmapped}} · idle {{.Idle}}</div></div>
</div>

<h2>Spend against traffic per service</h2>
<div class="legend"><span><i class="sw" style="background:#91a7ff"></i>requests per day</span><span><i class="sw" style="background:#d9480f"></i>spend per day</span></div>
<div class="panels">
{{range .Panels}}<div class="panel">
<h3>{{.Service}}</h3><div class="sub">spend {{.Spend}} · {{.Requests}} requests</div>
<svg class="chart spend-traffic" data-service="{{.Service}}" xmlns="http://www.w3.org/2000/svg" width="{{f .W}}" height="{{f .H}}" viewBox="0 0 {{f .W}} {{f .H}}" role="img" aria-label="spend and requests per day of {{.Service}}">
<line x1="{{f .PlotL}}" y1="{{f .PlotB}}" x2="{{f .PlotR}}" y2="{{f .PlotB}}" stroke="#adb5bd"/>
<line x1="{{f .PlotL}}" y1="{{f .PlotT}}" x2="{{f .PlotR}}" y2="{{f .PlotT}}" stroke="#e9ecef" stroke-dasharray="3,3"/>
<text x="{{f .PlotL}}" y="{{f .PlotT}}" dx="-4" dy="4" text-anchor="end" style="fill:#d9480f">{{.MaxSpend}}</text>
<text x="{{f .PlotR}}" y="{{f .PlotT}}" dx="4" dy="4" text-anchor="start" style="fill:#4263eb">{{.MaxReqs}}</text>
{{range .Bars}}<rect class="bar-requests" x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="#91a7ff"><title>{{.Title}}</title></rect>
{{end}}<polyline class="line-spend" points="{{.Line}}" fill="none" stroke="#d9480f" stroke-width="2.5"/>
{{range .Points}}<circle class="point-spend" cx="{{f .X}}" cy="{{f .Y}}" r="3.5" fill="#d9480f"><title>{{.Title}}</title></circle>
{{end}}{{range .Days}}<text x="{{f .X}}" y="150" text-anchor="middle">{{.Text}}</text>
{{end}}</svg>
</div>
{{else}}<p class="muted">No services with spend or requests this week.</p>
{{end}}</div>

<h2>Top hotspots by estimated weekly cost impact</h2>
{{if .HotBars}}<svg class="chart hotspots" xmlns="http://www.w3.org/2000/svg" width="{{f .HotW}}" height="{{f .HotH}}" viewBox="0 0 {{f .HotW}} {{f .HotH}}" role="img" aria-label="top hotspots by weekly cost impact">
{{range .HotBars}}<text x="{{f $.HotLabelW}}" y="{{f .TextY}}" dx="-8" text-anchor="end">{{.Label}}</text>
<rect class="bar-hotspot sev-{{.Severity}}" x="{{f $.HotLabelW}}" y="{{f .Y}}" width="{{f .W}}" height="20" rx="2" fill="{{if eq .Severity "critical"}}#e03131{{else if eq .Severity "warning"}}#f08c00{{else}}#868e96{{end}}"><title>{{.Title}}</title></rect>
<text x="{{f .ValueX}}" y="{{f .TextY}}">{{.Value}}</text>
{{end}}</svg>
<p class="muted">{{.R.ImpactMethod}}.</p>
{{else}}<p class="muted">No hotspots found this week.</p>{{end}}

<h2>Services</h2>
<table>
<thead><tr><th>Service</th><th>Spend</th><th>Requests</th><th>Cost / 1k requests</th><th>WoW (cost / 1k)</th><th>p95</th><th>Error rate</th></tr></thead>
<tbody>
{{range .Services}}<tr><td>{{.Service}}</td><td>{{.Spend}}</td><td>{{.Requests}}</td><td>{{.CostPer1k}}</td><td{{if .Up}} class="up"{{end}}>{{.Change}}</td><td>{{.P95}}</td><td>{{.ErrorRate}}</td></tr>
{{end}}</tbody>
</table>

<h2>Hotspot details</h2>
{{range .Hotspots}}<div class="hot">
<h3>{{.Rank}}. {{.Rule}} in {{.Service}}: {{.Operation}} <span class="sev sev-{{.Severity}}">{{.Severity}}</span></h3>
<div>Impact <b>{{.Impact}}</b> a week{{if .AvoidableCallsPerWeek}} · {{.Avoid}} avoidable calls a week{{end}}</div>
<ul>{{range .Evidence}}<li>{{.}}</li>{{end}}{{if .ExampleTraceIDs}}<li>Example traces: {{range $i, $t := .ExampleTraceIDs}}{{if $i}}, {{end}}<code>{{$t}}</code>{{end}}</li>{{end}}</ul>
<div><b>Recommendation:</b> {{.Recommendation}}</div>
</div>
{{else}}<p class="muted">None.</p>
{{end}}
<p class="muted">Generated by weir at {{.R.GeneratedAt.Format "2006-01-02 15:04 UTC"}}.</p>
</body>
</html>
`))
