package hotspot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fleet is ten services at 1.00 per 1k requests, flat week over week, 1% errors.
func fleet() []ServiceWeek {
	var out []ServiceWeek
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		out = append(out, ServiceWeek{Service: name, Spend: 100, PreviousSpend: 100, Requests: 100000,
			PreviousRequests: 100000, Errors: 1000, ActiveSpans: 300000, TelemetryBytes: 1e9, StoredTelemetryBytes: 1e8})
	}
	return out
}

func detectOne(t *testing.T, in SpendInput, th SpendThresholds) []Finding {
	t.Helper()
	if in.TotalSpend == 0 {
		for _, s := range in.Services {
			in.TotalSpend += s.Spend
		}
	}
	fs, err := DetectSpend(in, th)
	require.NoError(t, err)
	return fs
}

func TestDetectSpend_QuietFleetHasNoFindings(t *testing.T) {
	assert.Empty(t, detectOne(t, SpendInput{Services: fleet()}, DefaultSpendThresholds()))
}

func TestDetectSpend_EachRule(t *testing.T) {
	th := DefaultSpendThresholds()
	cases := []struct {
		name   string
		mutate func(*SpendInput)
		rule   Rule
		impact float64
	}{
		{"outlier", func(in *SpendInput) { in.Services[0].Spend, in.Services[0].PreviousSpend = 500, 500 },
			RuleCostOutlier, 500 - 100},
		{"rising", func(in *SpendInput) { in.Services[0].Spend = 200 }, RuleCostRise, 200 - 100},
		{"growth", func(in *SpendInput) {
			s := &in.Services[0]
			s.Spend, s.Requests = 200, 120000 // traffic +20%, spend +100%
		}, RuleSpendGrowth, 200 - 100*1.2},
		{"error burn", func(in *SpendInput) { in.Services[0].Errors = 20000 }, RuleErrorBurn, 100 * 0.2},
		{"idle", func(in *SpendInput) {
			in.Services = append(in.Services, ServiceWeek{Service: "zombie", Spend: 70, PreviousSpend: 70})
		}, RuleIdleSpend, 70},
		{"telemetry", func(in *SpendInput) { in.Services[0].TelemetryBytes = 100e9 }, RuleTelemetrySpend, 100*0.30 - 0.10*100},
		{"over-provisioned", func(in *SpendInput) {
			in.Workloads = []Workload{{Service: "a", Namespace: "shop", Controller: "a", CPUCost: 80, RAMCost: 20,
				CPUEfficiency: 0.2, RAMEfficiency: 0.9}}
		}, RuleOverProvisioned, 80 * (1 - 0.2/0.8)},
		{"series", func(in *SpendInput) {
			in.Series = []SeriesGrowth{{Service: "a", Metric: "orders", Series: 40000, PreviousSeries: 200, PointBytes: 10e9}}
		}, RuleSeriesExplosion, 10 * 0.30 * (1 - 200.0/40000)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := SpendInput{Services: fleet()}
			c.mutate(&in)
			fs := detectOne(t, in, th)
			require.Len(t, fs, 1, "%+v", fs)
			assert.Equal(t, c.rule, fs[0].Rule)
			assert.InDelta(t, c.impact, fs[0].ImpactPerWeek, 1e-9)
			assert.NotEqual(t, SeverityInfo, fs[0].Severity)
			assert.NotEmpty(t, fs[0].Recommendation)
		})
	}
}

func TestDetectSpend_RiseNeedsFlatTraffic(t *testing.T) {
	in := SpendInput{Services: fleet()}
	in.Services[0].Spend, in.Services[0].Requests = 130, 130000 // spend follows traffic
	assert.Empty(t, detectOne(t, in, DefaultSpendThresholds()))
}

func TestDetectSpend_SeverityIsShareOfTotal(t *testing.T) {
	in := SpendInput{Services: fleet()}
	in.Services[0].Spend = 125 // +25 on a bill of 1025: 2.4%, a warning
	fs := detectOne(t, in, DefaultSpendThresholds())
	require.Len(t, fs, 1)
	assert.Equal(t, SeverityWarning, fs[0].Severity)
	in.TotalSpend = 100000 // the same finding on a large bill is info
	fs = detectOne(t, in, DefaultSpendThresholds())
	require.Len(t, fs, 1)
	assert.Equal(t, SeverityInfo, fs[0].Severity)
}

func TestDetectSpend_StoredTelemetryWhenUnweighted(t *testing.T) {
	in := SpendInput{Services: fleet()}
	in.Services[0].TelemetryBytes = 100e9
	th := DefaultSpendThresholds()
	th.TelemetryWeighted = false // stored bytes are 0.1 GB: nothing to flag
	assert.Empty(t, detectOne(t, in, th))
}

func TestSpendThresholdsValidate(t *testing.T) {
	th := DefaultSpendThresholds()
	require.NoError(t, th.Validate())
	th.OutlierRatio = 1
	assert.ErrorContains(t, th.Validate(), "OutlierRatio")
}

func TestFoldSameCalls(t *testing.T) {
	fs := []Finding{
		{Rule: RuleChattyEdge, Service: "recs", Operation: "GET /home", Severity: SeverityWarning, AvoidableCallsPerWeek: 100},
		{Rule: RuleFanOut, Service: "recs", Operation: "GET /home", Severity: SeverityWarning, AvoidableCallsPerWeek: 40},
		{Rule: RuleNPlusOneQuery, Service: "cart", Operation: "GET /cart", Severity: SeverityWarning, AvoidableCallsPerWeek: 90},
		{Rule: RuleNPlusOneQuery, Service: "cart", Operation: "GET /cart", Severity: SeverityWarning, AvoidableCallsPerWeek: 50,
			Evidence: Evidence{Key: "other"}},
	}
	foldSameCalls(fs)
	assert.Equal(t, SeverityWarning, fs[0].Severity)
	assert.Equal(t, SeverityInfo, fs[1].Severity)
	assert.Equal(t, "chatty_edge recs GET /home", fs[1].Evidence.SeeAlso)
	assert.Equal(t, SeverityWarning, fs[2].Severity, "two N+1 statements are different calls")
	assert.Equal(t, SeverityWarning, fs[3].Severity)
}

func TestFoldErrorBurn(t *testing.T) {
	fs := []Finding{
		{Rule: RuleRetryStorm, Service: "checkout", Operation: "POST /charge", Severity: SeverityWarning},
		{Rule: RuleErrorBurn, Service: "payments", Severity: SeverityWarning, ImpactPerWeek: 12,
			Evidence: Evidence{FailedRequestShare: 0.2}},
		{Rule: RuleErrorBurn, Service: "search", Severity: SeverityWarning, ImpactPerWeek: 3},
	}
	FoldErrorBurn(fs, map[[2]string]uint64{{"checkout", "payments"}: 500, {"gateway", "search"}: 10})
	assert.Equal(t, "payments", fs[0].Evidence.Callee)
	assert.Equal(t, 12.0, fs[0].Evidence.CalleeErrorBurn)
	assert.Equal(t, SeverityInfo, fs[1].Severity)
	assert.Equal(t, SeverityWarning, fs[2].Severity, "no retry storm calls search")
}

func TestDetectSpend_OneSpendLevelFindingPerService(t *testing.T) {
	in := SpendInput{Services: fleet()}
	s := &in.Services[0]
	s.Spend, s.PreviousSpend = 600, 200 // out of line (6× the median) and rising on flat traffic
	in.Workloads = []Workload{{Service: "a", Namespace: "shop", Controller: "a", CPUCost: 300, CPUEfficiency: 0.1, RAMEfficiency: 0.9}}
	fs := detectOne(t, in, DefaultSpendThresholds())
	standing := 0
	var sum float64
	for _, f := range fs {
		if f.Evidence.SeeAlso == "" {
			standing++
			sum += f.ImpactPerWeek
		} else {
			assert.Equal(t, SeverityInfo, f.Severity, f.Rule)
		}
	}
	assert.Equal(t, 1, standing, "%+v", fs)
	assert.LessOrEqual(t, sum, s.Spend, "the impacts that stand never add up past the service's spend")
}

func TestFoldErrorBurn_TiesDoNotDependOnMapOrder(t *testing.T) {
	for range 50 {
		fs := []Finding{
			{Rule: RuleRetryStorm, Service: "checkout", Severity: SeverityWarning},
			{Rule: RuleErrorBurn, Service: "payments", Severity: SeverityWarning, ImpactPerWeek: 5},
			{Rule: RuleErrorBurn, Service: "fraud", Severity: SeverityWarning, ImpactPerWeek: 7},
		}
		FoldErrorBurn(fs, map[[2]string]uint64{{"checkout", "payments"}: 128, {"checkout", "fraud"}: 128})
		require.Equal(t, "fraud", fs[0].Evidence.Callee)
	}
}
