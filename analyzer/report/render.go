package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/weirhq/weir/analyzer/hotspot"
)

// WriteJSON writes r as indented JSON with the stable field names of Report.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// MaxMarkdownHotspots is how many hotspots WriteMarkdown lists in detail.
const MaxMarkdownHotspots = 20

// WriteMarkdown writes r as a Markdown document.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	t := r.Totals
	fmt.Fprintf(&b, "# weir weekly report: %s\n\n", r.Week)
	fmt.Fprintf(&b, "%s to %s (UTC), compared with %s.\n\n", r.From.Format("Mon 2 Jan 2006"), r.To.AddDate(0, 0, -1).Format("Mon 2 Jan 2006"), r.PreviousWeek)
	b.WriteString("## Summary\n\n")
	b.WriteString("| | This week | Last week | Change |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| Total spend%s | %s | %s | %s |\n", r.currencySuffix(), Money(t.Spend), Money(t.PreviousSpend), Pct(t.SpendChange))
	fmt.Fprintf(&b, "| Requests served, all services (every hop counts) | %s | %s | %s |\n", Count(t.Requests), Count(t.PreviousRequests), Pct(t.RequestsChange))
	fmt.Fprintf(&b, "| Spend per million requests | %s | %s | %s |\n", Money(t.SpendPerMillionRequests), Money(t.PrevSpendPerMillionRequests), Pct(t.SpendPerMillionChange))
	fmt.Fprintf(&b, "\nSpend is the bill's %s%s. Unmapped spend: %s. Idle cost: %s. Estimated weekly cost impact of the hotspots: %s.\n\n",
		r.CostColumn, costColumnNote(r.CostColumn), Money(t.Unmapped), Money(t.Idle), Money(t.HotspotImpactPerWeek))

	b.WriteString("## Hotspots\n\n")
	if len(r.Hotspots) == 0 {
		b.WriteString("No hotspots found.\n\n")
	} else {
		fmt.Fprintf(&b, "Ranked by estimated weekly cost impact (%s).\n\n", r.ImpactMethod)
		b.WriteString("| # | Rule | Service | Operation | Severity | Impact / week | Avoidable calls / week |\n|---:|---|---|---|---|---:|---:|\n")
		for i, h := range r.Hotspots {
			if i == MaxMarkdownHotspots {
				break
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", h.Rank, h.Rule, mdCell(h.Service), mdCell(h.Operation), h.Severity,
				Money(h.ImpactPerWeek), Num(h.AvoidableCallsPerWeek))
		}
		b.WriteString("\n")
		for i, h := range r.Hotspots {
			if i == MaxMarkdownHotspots {
				fmt.Fprintf(&b, "… and %d more (see the JSON report).\n\n", len(r.Hotspots)-i)
				break
			}
			fmt.Fprintf(&b, "### %d. %s in %s: %s\n\n", h.Rank, h.Rule, mdText(h.Service), mdText(h.Operation))
			for _, e := range EvidenceLines(h) {
				fmt.Fprintf(&b, "- %s\n", mdText(e))
			}
			if len(h.ExampleTraceIDs) > 0 {
				fmt.Fprintf(&b, "- Example traces: `%s`\n", strings.Join(h.ExampleTraceIDs, "`, `"))
			}
			fmt.Fprintf(&b, "\n**Recommendation:** %s\n\n", mdText(h.Recommendation))
		}
	}

	b.WriteString("## Services\n\n")
	b.WriteString("| Service | Spend | Requests | Cost / 1k requests | WoW (cost / 1k) | p95 | Error rate |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Services {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(s.Service), Money(s.Spend), Count(s.Requests),
			Money(s.CostPer1kRequests), Pct(s.CostPer1kChange), Ms(s.P95Ms), Ratio(s.ErrorRate))
	}
	b.WriteString("\n## Daily spend and requests\n\n")
	if len(r.Daily) > 0 {
		b.WriteString("| Service |")
		for _, d := range r.Daily[0].Days {
			b.WriteString(" " + d.Date + " |")
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(r.Daily[0].Days)) + "\n")
		for _, s := range r.Daily {
			b.WriteString("| " + mdCell(s.Service) + " |")
			for _, d := range s.Days {
				fmt.Fprintf(&b, " %s / %s req |", Money(d.Spend), Count(d.Requests))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) currencySuffix() string {
	if r.Currency == "" {
		return ""
	}
	return " (" + r.Currency + ")"
}

// costColumnNote says what a FOCUS cost column is, for the reader who compares the report
// with the invoice.
func costColumnNote(col string) string {
	switch col {
	case "EffectiveCost":
		return " (after discounts, credits and commitments; the invoice's BilledCost can differ)"
	case "BilledCost":
		return " (the invoice)"
	case "ListCost":
		return " (at list prices)"
	case "ContractedCost":
		return " (at contracted prices)"
	}
	return ""
}

// EvidenceLines are the numbers behind a hotspot, one sentence each.
func EvidenceLines(h Hotspot) []string {
	e := h.Evidence
	var out []string
	if e.SeeAlso != "" {
		out = append(out, "Same cause as "+e.SeeAlso+"; counted there, not here.")
	}
	if h.AvoidableCallsPerWeek > 0 {
		out = append(out, fmt.Sprintf("Estimated impact %s a week: %s avoidable calls × %s per call.",
			Money(h.ImpactPerWeek), Num(h.AvoidableCallsPerWeek), Money4(h.CostPerCall)))
		if e.PricedAt != "" {
			verb := "spends"
			if e.PricedAtCount > 1 {
				verb = "spend"
			}
			out = append(out, "Calls priced at what "+e.PricedAt+" "+verb+" per call.")
		}
	} else {
		out = append(out, fmt.Sprintf("Estimated impact %s a week.", Money(h.ImpactPerWeek)))
	}
	switch h.Rule {
	case hotspot.RuleCostOutlier, hotspot.RuleCostRise, hotspot.RuleSpendGrowth, hotspot.RuleIdleSpend, hotspot.RuleErrorBurn:
		out = append(out, fmt.Sprintf("Spend %s this week, %s the week before; %s requests, %s the week before.",
			Money(e.Spend), Money(e.PreviousSpend), Num(e.ServiceRequestsPerWeek), Num(e.PreviousRequestsPerWeek)))
		if e.CostPer1k > 0 {
			out = append(out, fmt.Sprintf("Cost per 1k requests %s (the week before %s; fleet median %s).",
				Money4(e.CostPer1k), Money4(e.PreviousCostPer1k), Money4(e.FleetMedianCostPer1k)))
		}
	case hotspot.RuleTelemetrySpend:
		out = append(out, fmt.Sprintf("Telemetry %.2f GB a week (%.2f GB stored), %s bytes per request, costing %s: %s of the service's spend of %s.",
			e.TelemetryGB, e.StoredTelemetryGB, Num(e.TelemetryBytesPerRequest), Money(e.TelemetryCost), Ratio(e.TelemetryShareOfSpend), Money(e.Spend)))
	case hotspot.RuleOverProvisioned:
		out = append(out, fmt.Sprintf("Workload %s in %s: CPU efficiency %s of %s CPU cost, memory efficiency %s of %s memory cost.",
			e.Workload, e.Cluster, Ratio(e.CPUEfficiency), Money(e.CPUCost), Ratio(e.RAMEfficiency), Money(e.RAMCost)))
	case hotspot.RuleSeriesExplosion:
		out = append(out, fmt.Sprintf("%s series this week, %s the week before.", Count(e.Series), Count(e.PreviousSeries)))
	}
	if e.Callee != "" {
		out = append(out, fmt.Sprintf("The retried calls go to %s, where %s of requests fail (error burn %s a week).",
			e.Callee, Ratio(e.CalleeFailedShare), Money(e.CalleeErrorBurn)))
	}
	if e.Key != "" {
		out = append(out, "Repeated: "+e.Key)
	}
	if e.TracesPerWeek > 0 {
		out = append(out, fmt.Sprintf("%s of %s traces a week affected (%s).", Num(e.AffectedTracesPerWeek), Num(e.TracesPerWeek), Ratio(e.ShareOfTraces)))
	} else if e.AffectedTracesPerWeek > 0 {
		out = append(out, fmt.Sprintf("%s traces a week affected.", Num(e.AffectedTracesPerWeek)))
	}
	if e.CallsPerAffectedSpan > 0 {
		out = append(out, fmt.Sprintf("%s calls per affected span on average, at most %d; %s avoidable per affected trace.",
			Num(e.CallsPerAffectedSpan), e.MaxCalls, Num(e.AvoidableCallsPerTrace)))
	}
	if e.RetriedCallsPerWeek > 0 {
		out = append(out, fmt.Sprintf("%s retried calls a week (%s after failures, %s resent).",
			Num(e.RetriedCallsPerWeek), Num(e.RepeatedFailureCallsPerWeek), Num(e.ResentCallsPerWeek)))
	}
	if e.ServiceRequestsPerWeek > 0 && (h.Rule == hotspot.RuleRetryStorm || h.Rule == hotspot.RuleErrorBurn) {
		out = append(out, fmt.Sprintf("Error burn: %s of %s requests failed (%s).",
			Num(e.FailedRequestsPerWeek), Num(e.ServiceRequestsPerWeek), Ratio(e.FailedRequestShare)))
	}
	return out
}

// Money formats an amount with two decimals and thousands separators.
func Money(f float64) string { return group(strconv.FormatFloat(f, 'f', 2, 64)) }

// Money4 formats a small amount (a price per call) with up to six significant decimals.
func Money4(f float64) string {
	if f == 0 || math.Abs(f) >= 1 {
		return Money(f)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// Num formats a count that may be fractional (weighted), rounded to a whole number.
func Num(f float64) string { return group(strconv.FormatFloat(math.Round(f), 'f', 0, 64)) }

// Count formats a count with thousands separators.
func Count(n uint64) string { return group(strconv.FormatUint(n, 10)) }

// Pct formats a relative change: "+25.0%", "n/a" for nil.
func Pct(c *float64) string {
	if c == nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", *c*100)
}

// Ratio formats a share as a percentage: "1.25%".
func Ratio(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }

// Ms formats milliseconds, "–" for 0 (unknown).
func Ms(f float64) string {
	if f == 0 {
		return "–"
	}
	if f < 10 {
		return fmt.Sprintf("%.2f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}

// group puts thousands separators into a formatted number.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}

// mdText keeps text on one line and neutralizes HTML.
func mdText(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
	if s == "" {
		return "(none)"
	}
	return s
}
