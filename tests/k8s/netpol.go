package main

// NetworkPolicies: what each workload may be reached by and may reach,
// worked out from the policies that select its pods and compared with what
// the process needs. Only the gateway and the console are open to all;
// each process's way out is exactly the list below.

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wantEgress: where each process's pods may connect (besides nothing).
var wantEgress = map[string]string{
	"tally-gateway":      "dns,kafka,postgres",         // events; the API key view
	"tally-console":      "dns,gateway,kafka,postgres", // Control Panel events; usage downloads; the read model
	"tally-anonymizer":   "dns,kafka",
	"tally-aggregator":   "dns,kafka",
	"tally-notifier":     "dns,kafka",
	"tally-materializer": "dns,kafka,postgres",
	"tally-webhooks":     "dns,kafka,public-https", // tenants' endpoints
	"tally-migrate":      "dns,postgres",
}

// public: the workloads anyone may reach, on their HTTP port only.
var public = map[string]bool{"tally-gateway": true, "tally-console": true}

func hasType(p *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	for _, x := range p.Spec.PolicyTypes {
		if x == t {
			return true
		}
	}
	return false
}

func emptySelector(s metav1.LabelSelector) bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// appliesTo: the policy selects pods with these labels (an empty selector
// selects every pod of the namespace).
func appliesTo(p *networkingv1.NetworkPolicy, l map[string]string) bool {
	return emptySelector(p.Spec.PodSelector) || selects(&p.Spec.PodSelector, l)
}

func portsOf(ports []networkingv1.NetworkPolicyPort) []string {
	var out []string
	for _, p := range ports {
		if p.Port == nil {
			out = append(out, "any")
			continue
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		out = append(out, fmt.Sprintf("%s/%s", p.Port.String(), proto))
	}
	return out
}

func allPorts(ports []networkingv1.NetworkPolicyPort, want ...string) bool {
	if len(ports) == 0 {
		return false
	}
	for _, p := range ports {
		if p.Port == nil {
			return false
		}
		ok := false
		for _, w := range want {
			ok = ok || p.Port.String() == w
		}
		if !ok {
			return false
		}
	}
	return true
}

var privateV4 = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"}

// publicOnly: an ipBlock of every address but the private ranges.
func publicOnly(b *networkingv1.IPBlock) bool {
	has := map[string]bool{}
	for _, e := range b.Except {
		has[e] = true
	}
	switch b.CIDR {
	case "0.0.0.0/0":
		for _, p := range privateV4 {
			if !has[p] {
				return false
			}
		}
		return true
	case "::/0":
		return has["fc00::/7"] && has["fe80::/10"] && has["::1/128"]
	}
	return false
}

// classify names what an egress rule reaches; "" for anything else.
func classify(rule networkingv1.NetworkPolicyEgressRule) string {
	if len(rule.To) == 0 || len(rule.Ports) == 0 {
		return ""
	}
	if allPorts(rule.Ports, "53") {
		for _, t := range rule.To {
			if t.NamespaceSelector == nil || t.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "kube-system" {
				return ""
			}
		}
		return "dns"
	}
	blocks, pods := 0, 0
	for _, t := range rule.To {
		if t.IPBlock != nil {
			blocks++
			if !publicOnly(t.IPBlock) {
				return ""
			}
		}
		if t.PodSelector != nil {
			pods++
		}
	}
	switch {
	case blocks == len(rule.To) && allPorts(rule.Ports, "443"):
		return "public-https"
	case blocks > 0 || pods != len(rule.To):
		return ""
	}
	same := func(key, value string) bool {
		for _, t := range rule.To {
			if v, ok := t.PodSelector.MatchLabels[key]; !ok || (value != "" && v != value) {
				return false
			}
		}
		return true
	}
	switch {
	case allPorts(rule.Ports, "9092", "9093") && same("strimzi.io/cluster", ""):
		return "kafka"
	case allPorts(rule.Ports, "5432"):
		return "postgres"
	case allPorts(rule.Ports, "8080") && same("app.kubernetes.io/name", "tally-gateway"):
		return "gateway"
	}
	return ""
}

func (r *rules) checkNetworkPolicies() {
	deny := false
	for _, p := range r.policies {
		if emptySelector(p.Spec.PodSelector) && hasType(p, networkingv1.PolicyTypeIngress) &&
			hasType(p, networkingv1.PolicyTypeEgress) && len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 {
			deny = true
		}
	}
	if !deny {
		r.fail("no default-deny NetworkPolicy (podSelector: {}, policyTypes Ingress and Egress, no rule)")
	}
	for _, w := range r.workloads {
		var open []string
		egress := map[string]bool{}
		for _, p := range r.policies {
			if !appliesTo(p, w.tmpl.Labels) {
				continue
			}
			if hasType(p, networkingv1.PolicyTypeIngress) {
				for _, rule := range p.Spec.Ingress {
					if !openToAll(rule) {
						continue
					}
					if len(rule.Ports) == 0 {
						r.fail("NetworkPolicy/%s: %s open to all on every port", p.Name, w.o)
					}
					open = append(open, portsOf(rule.Ports)...)
				}
			}
			if hasType(p, networkingv1.PolicyTypeEgress) {
				for i, rule := range p.Spec.Egress {
					c := classify(rule)
					if c == "" {
						r.fail("NetworkPolicy/%s egress rule %d: %s may reach what is neither DNS, Kafka, PostgreSQL, the gateway nor public HTTPS", p.Name, i+1, w.o)
						continue
					}
					egress[c] = true
				}
			}
		}
		app := w.app()
		if len(open) > 0 && !public[app] {
			r.fail("%s: reachable from anywhere on %s; only the gateway and the console may be", w.o, strings.Join(open, ","))
		}
		if len(open) == 0 && public[app] {
			r.fail("%s: no NetworkPolicy lets clients reach it", w.o)
		}
		got := make([]string, 0, len(egress))
		for c := range egress {
			got = append(got, c)
		}
		sort.Strings(got)
		want, known := wantEgress[app]
		if !known {
			r.fail("%s: no egress rule is known for %q (netpol.go)", w.o, app)
		} else if strings.Join(got, ",") != want {
			r.fail("%s: egress to [%s], wanted [%s]", w.o, strings.Join(got, ","), want)
		}
		from := "closed to all but the listed namespaces"
		if len(open) > 0 {
			from = "open on " + strings.Join(open, ",")
		}
		r.note("%s: ingress %s; egress %s", w.o, from, strings.Join(got, ", "))
	}
}

// openToAll: a rule without sources, or with a source of every address.
func openToAll(rule networkingv1.NetworkPolicyIngressRule) bool {
	if len(rule.From) == 0 {
		return true
	}
	for _, f := range rule.From {
		if f.IPBlock != nil && (f.IPBlock.CIDR == "0.0.0.0/0" || f.IPBlock.CIDR == "::/0") {
			return true
		}
		if f.NamespaceSelector != nil && emptySelector(*f.NamespaceSelector) && f.PodSelector == nil {
			return true
		}
	}
	return false
}
