// Package costmap maps spend to the services of the service graph.
//
// Allocate reads a window of the bill (rollup.SpendByResource) and of the Kubernetes cost
// allocations (rollup.AllocationByController) and gives every unit of cost to exactly one
// place: a service (directly, as its share of a shared resource, or through its Kubernetes
// workloads), the unmapped pile (spend no rule claims, never dropped), or the clusters' idle
// cost. Amounts are kept in whole nano-units of the bill's currency (Amount), so the books
// balance exactly:
//
//	sum(Services[i].Total) + Unmapped + Idle == Total
//
// # Rules
//
// A Config is ordered rules, first match wins, plus shared resources:
//
//	cost: EffectiveCost            # or BilledCost, ListCost, ContractedCost
//	rules:
//	  - tag: {keys: [service, app]}            # default keys: DefaultTagKeys
//	  - kubernetes: {by: namespace, match: '^(.+)-prod$'}
//	  - kubernetes: {by: controller}          # the controller (deployment) name as is
//	  - resource: {field: resource_id, match: 'function:(?P<service>[a-z-]+)$'}
//	  - resource: {match: '^arn:aws:s3:::assets', service: catalog}
//	shared:
//	  - name: orders-db
//	    node: postgresql                       # the edges_* Server it is in the service graph
//	    resource: ':cluster:orders'            # regex on ResourceId or ResourceName
//	    split_by: calls                        # or requests, even
//
// Which rules see what: a spend row (one resource of the bill) is first checked against the
// shared resources, then against the tag and resource rules in order; kubernetes rules are
// skipped for it. A non-idle allocation row is checked against the kubernetes rules and the
// tag rules (reading its labels) in order; resource rules are skipped for it. Idle
// allocations are never mapped: they are Idle.
//
// A regex rule gives its service as: Service when set (with $1, ${name} expanded from the
// match), else the capture group named "service", else capture group 1, else the whole
// match for kubernetes rules. An empty result is no match, and the next rule is tried.
//
// # Splitting shared resources
//
// The cost of the spend rows that match a shared resource is pooled per shared resource
// and split among the callers of its Node over the same window:
//
//   - calls (default): by each client's share of the calls to Node in the edges tiers
//     (rollup.CallsToNode);
//   - requests: among the same callers, by their own requests (server and consumer spans)
//     in the RED tiers (rollup.RequestsByService);
//   - even: equally among the same callers.
//
// Services, when set, replaces the callers from the edges (for requests and even) or
// restricts them (for calls). Parts are rounded to whole nano-units by the largest
// remainder, so they add up to the pool exactly. A pool with no caller (no edges in the
// window) goes to Unmapped with the reason.
//
// # Spend and Kubernetes allocations together
//
// Total is the bill plus the allocations. When the bill also holds the nodes of a cluster
// whose allocations are imported, that cost appears twice; leave such nodes unmapped (no
// rule for them) and read Unmapped with that in mind, or import only one of the two.
package costmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/weirhq/weir/rollup"
)

// DefaultTagKeys are the tag (and label) keys a tag rule reads when it names none, in order.
var DefaultTagKeys = []string{"service", "app", "application", "service.name", "component"}

// DefaultTopUnmapped is how many unmapped items a Result lists when Config.TopUnmapped is 0.
const DefaultTopUnmapped = 10

// Split keys of a shared resource.
const (
	SplitByCalls    = "calls"
	SplitByRequests = "requests"
	SplitEvenly     = "even"
)

// Kubernetes rule keys.
const (
	ByNamespace  = "namespace"
	ByController = "controller"
)

// Resource rule fields.
const (
	FieldResourceID   = "resource_id"
	FieldResourceName = "resource_name"
	FieldAny          = "any" // resource_id, then resource_name
)

// Config is the mapping configuration: ordered rules (first match wins) and shared resources.
type Config struct {
	// Cost is the spend column summed: one of rollup.SpendCostColumns; "" means EffectiveCost.
	Cost string `yaml:"cost"`
	// Rules map spend and allocations to services, in order.
	Rules []Rule `yaml:"rules"`
	// Shared resources are split among their callers instead of mapped by Rules.
	Shared []SharedResource `yaml:"shared"`
	// TopUnmapped is how many unmapped items Result.UnmappedTop lists; 0 means
	// DefaultTopUnmapped, a negative number none.
	TopUnmapped int `yaml:"top_unmapped"`
}

// Rule is one mapping rule; exactly one of Tag, Kubernetes and Resource is set.
type Rule struct {
	// Name labels the rule in errors; optional.
	Name       string          `yaml:"name"`
	Tag        *TagRule        `yaml:"tag"`
	Kubernetes *KubernetesRule `yaml:"kubernetes"`
	Resource   *ResourceRule   `yaml:"resource"`
}

// TagRule maps a spend row by the first of Keys its tags (or an allocation by the first of
// Keys its labels) have with a non-empty value; the value is the service.
type TagRule struct {
	Keys []string `yaml:"keys"` // empty means DefaultTagKeys
}

// KubernetesRule maps an allocation by its namespace or controller name.
type KubernetesRule struct {
	By      string `yaml:"by"`      // ByNamespace (default) or ByController
	Match   string `yaml:"match"`   // optional regex on the name; without it every name matches
	Service string `yaml:"service"` // optional; see the package doc
	Cluster string `yaml:"cluster"` // optional regex the cluster must match
}

// ResourceRule maps a spend row by a regex on its resource ID or name.
type ResourceRule struct {
	Field   string `yaml:"field"`   // FieldResourceID (default), FieldResourceName or FieldAny
	Match   string `yaml:"match"`   // required
	Service string `yaml:"service"` // optional; without it the regex needs a capture group
}

// SharedResource marks spend rows as one shared resource, split among callers of Node.
type SharedResource struct {
	Name string `yaml:"name"` // required, unique
	// Node is the service-graph node the resource is, as the Server of edges rows
	// (e.g. "postgresql" for a database cluster); required unless Services is set and
	// SplitBy is not calls.
	Node string `yaml:"node"`
	// Resource is a regex on ResourceId or ResourceName; Tag matches a tag value. At least
	// one is required; a row matches when either does.
	Resource string    `yaml:"resource"`
	Tag      *TagMatch `yaml:"tag"`
	SplitBy  string    `yaml:"split_by"` // SplitByCalls (default), SplitByRequests, SplitEvenly
	Services []string  `yaml:"services"` // optional; see the package doc
}

// TagMatch matches the value of one tag key with a regex.
type TagMatch struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"` // regex; empty means any non-empty value
}

// Load reads a YAML Config and validates it. Unknown fields are errors.
func Load(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("costmap config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadFile is Load of a file's contents.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Load(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate reports every mistake in c at once, one line each.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// compiled is a validated Config with its regexes.
type compiled struct {
	cost   string
	rules  []compiledRule
	shared []compiledShared
	top    int
}

type compiledRule struct {
	kind    string // "tag", "kubernetes", "resource"
	keys    []string
	by      string
	field   string
	re      *regexp.Regexp // nil: every name (kubernetes)
	cluster *regexp.Regexp
	service string
}

type compiledShared struct {
	SharedResource
	resource *regexp.Regexp
	tagValue *regexp.Regexp
}

func (c Config) compile() (*compiled, error) {
	var errs []error
	bad := func(where, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	re := func(where, expr string) *regexp.Regexp {
		r, err := regexp.Compile(expr)
		if err != nil {
			bad(where, "bad regex %q: %v", expr, err)
			return nil
		}
		return r
	}
	out := &compiled{cost: c.Cost, top: c.TopUnmapped}
	if out.cost == "" {
		out.cost = rollup.CostEffective
	}
	if !slices.Contains(rollup.SpendCostColumns, out.cost) {
		bad("cost", "%q is not one of %s", c.Cost, strings.Join(rollup.SpendCostColumns, ", "))
	}
	if out.top == 0 {
		out.top = DefaultTopUnmapped
	}
	for i, r := range c.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if r.Name != "" {
			where += " (" + r.Name + ")"
		}
		n := 0
		for _, set := range []bool{r.Tag != nil, r.Kubernetes != nil, r.Resource != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad(where, "needs exactly one of tag, kubernetes, resource (has %d)", n)
			continue
		}
		switch {
		case r.Tag != nil:
			keys := r.Tag.Keys
			if len(keys) == 0 {
				keys = DefaultTagKeys
			}
			for j, k := range keys {
				if strings.TrimSpace(k) == "" {
					bad(fmt.Sprintf("%s.tag.keys[%d]", where, j), "empty key")
				}
			}
			out.rules = append(out.rules, compiledRule{kind: "tag", keys: keys})
		case r.Kubernetes != nil:
			k := r.Kubernetes
			cr := compiledRule{kind: "kubernetes", by: k.By, service: k.Service}
			if cr.by == "" {
				cr.by = ByNamespace
			}
			if cr.by != ByNamespace && cr.by != ByController {
				bad(where+".kubernetes.by", "%q is not %s or %s", k.By, ByNamespace, ByController)
			}
			if k.Match != "" {
				cr.re = re(where+".kubernetes.match", k.Match)
			}
			if k.Cluster != "" {
				cr.cluster = re(where+".kubernetes.cluster", k.Cluster)
			}
			checkTemplate(bad, where+".kubernetes.service", cr.re, k.Service)
			out.rules = append(out.rules, cr)
		case r.Resource != nil:
			rr := r.Resource
			cr := compiledRule{kind: "resource", field: rr.Field, service: rr.Service}
			if cr.field == "" {
				cr.field = FieldResourceID
			}
			if cr.field != FieldResourceID && cr.field != FieldResourceName && cr.field != FieldAny {
				bad(where+".resource.field", "%q is not %s, %s or %s", rr.Field, FieldResourceID, FieldResourceName, FieldAny)
			}
			if rr.Match == "" {
				bad(where+".resource.match", "required")
			} else if cr.re = re(where+".resource.match", rr.Match); cr.re != nil && rr.Service == "" && cr.re.NumSubexp() == 0 {
				bad(where+".resource", "match %q has no capture group and no service is set", rr.Match)
			}
			checkTemplate(bad, where+".resource.service", cr.re, rr.Service)
			out.rules = append(out.rules, cr)
		}
	}
	names := map[string]bool{}
	for i, s := range c.Shared {
		where := fmt.Sprintf("shared[%d]", i)
		if s.Name != "" {
			where += " (" + s.Name + ")"
		}
		cs := compiledShared{SharedResource: s}
		if s.Name == "" {
			bad(where+".name", "required")
		} else if names[s.Name] {
			bad(where+".name", "%q is used twice", s.Name)
		}
		names[s.Name] = true
		if cs.SplitBy == "" {
			cs.SplitBy = SplitByCalls
		}
		switch cs.SplitBy {
		case SplitByCalls, SplitByRequests, SplitEvenly:
		default:
			bad(where+".split_by", "%q is not %s, %s or %s", s.SplitBy, SplitByCalls, SplitByRequests, SplitEvenly)
		}
		if s.Node == "" && (cs.SplitBy == SplitByCalls || len(s.Services) == 0) {
			bad(where+".node", "required (the service-graph node whose callers share the cost)")
		}
		for j, svc := range s.Services {
			if strings.TrimSpace(svc) == "" {
				bad(fmt.Sprintf("%s.services[%d]", where, j), "empty service")
			}
		}
		if s.Resource == "" && s.Tag == nil {
			bad(where, "needs resource or tag to match its spend")
		}
		if s.Resource != "" {
			cs.resource = re(where+".resource", s.Resource)
		}
		if s.Tag != nil {
			if s.Tag.Key == "" {
				bad(where+".tag.key", "required")
			}
			if s.Tag.Value != "" {
				cs.tagValue = re(where+".tag.value", s.Tag.Value)
			}
		}
		out.shared = append(out.shared, cs)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("costmap config: %d error(s):\n%w", len(errs), err)
	}
	return out, nil
}

// checkTemplate reports $ references in a service template that the regex does not have.
func checkTemplate(bad func(string, string, ...any), where string, re *regexp.Regexp, tmpl string) {
	if !strings.Contains(tmpl, "$") {
		return
	}
	if re == nil {
		bad(where, "%q refers to a capture group but there is no match regex", tmpl)
		return
	}
	for _, m := range templateRef.FindAllStringSubmatch(tmpl, -1) {
		name := m[1] + m[2]
		if name == "" || name == "$" {
			continue
		}
		if n := 0; isDigits(name, &n) {
			if n > re.NumSubexp() {
				bad(where, "%q refers to group %d; the regex has %d", tmpl, n, re.NumSubexp())
			}
		} else if re.SubexpIndex(name) < 0 {
			bad(where, "%q refers to group %q, which the regex does not have", tmpl, name)
		}
	}
}

var templateRef = regexp.MustCompile(`\$(?:\{([^}]*)\}|([A-Za-z0-9_]+|\$))`)

func isDigits(s string, n *int) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		*n = *n*10 + int(r-'0')
	}
	return true
}

// serviceFrom gives the service a regex rule names for s, or "" when it does not match.
func (r *compiledRule) serviceFrom(s string, wholeMatch bool) string {
	if r.re == nil {
		if r.service != "" {
			return r.service
		}
		return s
	}
	m := r.re.FindStringSubmatchIndex(s)
	if m == nil {
		return ""
	}
	if r.service != "" {
		return strings.TrimSpace(string(r.re.ExpandString(nil, r.service, s, m)))
	}
	g := r.re.SubexpIndex("service")
	if g < 0 && r.re.NumSubexp() > 0 {
		g = 1
	}
	if g < 0 {
		if wholeMatch {
			return s[m[0]:m[1]]
		}
		return ""
	}
	if m[2*g] < 0 {
		return ""
	}
	return strings.TrimSpace(s[m[2*g]:m[2*g+1]])
}
