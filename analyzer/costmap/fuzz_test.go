package costmap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/weirhq/weir/rollup"
)

// FuzzLoad loads arbitrary bytes as costmap rules and maps a spend row and allocations named
// by the fuzzer's subject with them. Load must not panic or hang; its errors name the
// costmap config; a config it accepts validates, compiles to one rule and pool per entry,
// and writes back to YAML that loads to the same config; and mapping through it never
// panics, names only non-empty services and balances: what the rows cost is exactly what
// services, unmapped, idle and the (unsplit) shared pools hold.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		testRules,
		"",
		"cost: BilledCost\ntop_unmapped: -1\nrules:\n  - tag: {keys: [team, ' ']}\n",
		"rules:\n  - resource: {match: 'function:(?P<fn>[a-z]+)-(?P<service>[a-z]+)$'}\n  - resource: {match: '^svc-([a-z]+)', service: team-$1}\n  - resource: {match: '^(x)?y$'}\n",
		"rules:\n  - {name: k8s, kubernetes: {by: pod, match: '(', service: $2}}\n  - resource: {field: arn}\n  - kubernetes: {service: '${service}'}\n",
		"shared:\n  - {}\n  - {name: db, node: postgresql, resource: '[', split_by: bytes}\n  - {name: db, tag: {value: '('}}\n  - {name: listed, split_by: even, services: [a, ''], resource: x}\n",
		"shared:\n  - {name: cache, split_by: requests, services: [cart, shop], tag: {key: role, value: '^cache$'}}\nrules:\n  - kubernetes: {by: controller, cluster: '^prod', match: '^(?P<service>.+)-api$', service: '${service}-svc'}\n",
		"rules:\n  - tags: {}\n",
		"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nrules: [*b]\n",
		"rules:\n  - resource: {match: !!binary /w==, service: x}\n",
		"rules: [&r {name: twice, tag: {keys: [app]}}, *r]\nshared: [{name: s, node: n, resource: &re '^(db|cache)-'}]\n",
	} {
		f.Add([]byte(s), "svc-cart")
	}
	f.Add([]byte(testRules), "prod-search")
	f.Add([]byte(testRules), "arn:aws:lambda:us-east-1:1:function:payments")
	f.Fuzz(func(t *testing.T, data []byte, subject string) {
		cfg, err := Load(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "costmap config") {
				t.Fatalf("the error does not name the costmap config: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a config that does not validate: %v", err)
		}
		cc, err := cfg.compile()
		if err != nil {
			t.Fatal(err)
		}
		if len(cc.rules) != len(cfg.Rules) || len(cc.shared) != len(cfg.Shared) {
			t.Fatalf("%d rules and %d shared resources compiled to %d and %d", len(cfg.Rules), len(cfg.Shared), len(cc.rules), len(cc.shared))
		}

		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal %+v: %v", cfg, err)
		}
		again, err := Load(out)
		if err != nil {
			t.Fatalf("the config written back does not load: %v\n%s", err, out)
		}
		if out2, err := yaml.Marshal(again); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("the config written back loads differently:\n%s\n%s", out, out2)
		}

		for i := range cc.rules {
			cc.rules[i].serviceFrom(subject, true)
			cc.rules[i].serviceFrom(subject, false)
		}
		day := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
		a := newAllocation(cc, day, day.Add(24*time.Hour))
		a.workloads = true
		tagKeys := append(append([]string(nil), DefaultTagKeys...), "role", subject)
		tagValues := make([]string, len(tagKeys))
		for i := range tagValues {
			tagValues[i] = subject
		}
		spend := []rollup.SpendResource{
			{ResourceID: subject, ResourceName: subject, ServiceName: "EC2", BillingCurrency: "USD", TagKeys: tagKeys, TagValues: tagValues, Cost: 1.5},
			{ResourceID: "other", ResourceName: subject, TagKeys: []string{subject}, TagValues: []string{" \t"}, Cost: -0.25},
			{ResourceID: subject, Cost: 1e-9},
		}
		allocs := []rollup.AllocationCost{
			{Cluster: subject, Namespace: subject, Controller: subject, LabelKeys: tagKeys, LabelValues: tagValues, Cost: 2.25},
			{Cluster: "prod", Namespace: "shop", Controller: subject + "-api", Cost: 0.75},
			{Cluster: subject, IsIdle: true, Cost: 0.5},
		}
		if err := a.addSpend(spend); err != nil {
			t.Fatal(err)
		}
		if err := a.addAllocations(allocs); err != nil {
			t.Fatal(err)
		}
		res := a.result()
		var pooled Amount
		for _, p := range a.pools {
			pooled += p.cost
		}
		sum := res.Unmapped + res.Idle + pooled
		for _, s := range res.Services {
			if s.Service == "" {
				t.Fatalf("a service without a name: %+v", s)
			}
			sum += s.Total
		}
		if want := Amount(1_500_000_000 - 250_000_000 + 1 + 2_250_000_000 + 750_000_000 + 500_000_000); res.Total != want || sum != want {
			t.Fatalf("the books do not balance: total %v, services+unmapped+idle+pools %v, want %v", res.Total, sum, want)
		}
		if len(res.Workloads) != 2 {
			t.Fatalf("%d workloads for 2 non-idle allocations", len(res.Workloads))
		}
	})
}
