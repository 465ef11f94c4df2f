package main

// The house rules: what the API types cannot say about Tally's workloads.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workload is an object that runs pods: its pod template and what the
// rules need of its owner.
type workload struct {
	o           object
	tmpl        *corev1.PodTemplateSpec
	selector    *metav1.LabelSelector // nil for a Job
	replicas    *int32
	longRunning bool // serves until stopped: probes are required
}

func (w workload) app() string { return w.tmpl.Labels["app.kubernetes.io/name"] }

type rules struct {
	opt        options
	objs       []object
	workloads  []workload
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	services   map[string]*corev1.Service
	policies   []*networkingv1.NetworkPolicy
	external   map[string]bool // referenced, not rendered: "Secret/name"
	helps      map[string]string
	errs       []string
	notes      []string
}

func newRules(objs []object, opt options) *rules {
	r := &rules{opt: opt, objs: objs, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{},
		external: map[string]bool{}, helps: map[string]string{}}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			r.workloads = append(r.workloads, workload{o, &v.Spec.Template, v.Spec.Selector, v.Spec.Replicas, true})
		case *appsv1.StatefulSet:
			r.workloads = append(r.workloads, workload{o, &v.Spec.Template, v.Spec.Selector, v.Spec.Replicas, true})
		case *batchv1.Job:
			r.workloads = append(r.workloads, workload{o, &v.Spec.Template, nil, nil, false})
		case *corev1.ConfigMap:
			r.configMaps[o.name] = v
		case *corev1.Secret:
			r.secrets[o.name] = v
		case *corev1.Service:
			r.services[o.name] = v
		case *networkingv1.NetworkPolicy:
			r.policies = append(r.policies, v)
		}
	}
	return r
}

func (r *rules) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *rules) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *rules) check() {
	if len(r.workloads) == 0 {
		r.fail("no Deployment, StatefulSet or Job")
	}
	for _, w := range r.workloads {
		r.checkWorkload(w)
	}
	r.checkServices()
	r.checkDisruptionAndScaling()
	r.checkSecretHygiene()
	r.checkNetworkPolicies()
	if len(r.external) > 0 {
		names := make([]string, 0, len(r.external))
		for n := range r.external {
			names = append(names, n)
		}
		sort.Strings(names)
		if r.opt.selfContained {
			r.fail("referenced but not in the manifests: %s", strings.Join(names, ", "))
		} else {
			r.note("the operator creates: %s", strings.Join(names, ", "))
		}
	}
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(l))
}

func (r *rules) checkWorkload(w workload) {
	spec := &w.tmpl.Spec
	if w.selector != nil && !selects(w.selector, w.tmpl.Labels) {
		r.fail("%s: its selector does not match its pod template's labels", w.o)
	}
	if w.app() == "" {
		r.fail("%s: pod template without the label app.kubernetes.io/name", w.o)
	}
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		r.fail("%s: pod securityContext.runAsNonRoot is not true", w.o)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		r.fail("%s: automountServiceAccountToken is not false (no Tally process calls the API server)", w.o)
	}
	for i := range spec.InitContainers {
		r.checkContainer(w, &spec.InitContainers[i], false)
	}
	if len(spec.Containers) == 0 {
		r.fail("%s: no container", w.o)
	}
	for i := range spec.Containers {
		r.checkContainer(w, &spec.Containers[i], w.longRunning)
	}
	r.checkVolumes(w)
	if sts, ok := w.o.obj.(*appsv1.StatefulSet); ok {
		r.checkStatefulSet(w, sts)
	}
	for _, c := range spec.Containers {
		if filepath.Base(commandOf(c)) == "tally-notifier" {
			if _, ok := w.o.obj.(*appsv1.StatefulSet); !ok || w.replicas == nil || *w.replicas != 1 {
				r.fail("%s: tally-notifier must run as exactly one instance (a StatefulSet with replicas: 1)", w.o)
			}
		}
	}
}

func commandOf(c corev1.Container) string {
	if len(c.Command) == 0 {
		return ""
	}
	return c.Command[0]
}

func (r *rules) checkContainer(w workload, c *corev1.Container, probes bool) {
	where := fmt.Sprintf("%s container %s", w.o, c.Name)
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		r.fail("%s: resources need requests.cpu, requests.memory and limits.memory", where)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		r.fail("%s: securityContext needs allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities.drop: [ALL]", where)
	}
	if c.Image == "" {
		r.fail("%s: no image", where)
	}
	if probes {
		r.checkProbe(where, c, c.ReadinessProbe, "readinessProbe", "/readyz")
		r.checkProbe(where, c, c.LivenessProbe, "livenessProbe", "/healthz")
	}
	r.checkEnvRefs(where, c)
	if r.opt.helpDir != "" && strings.HasPrefix(commandOf(*c), "/usr/local/bin/tally-") {
		r.checkOptions(where, c)
	}
}

func (r *rules) checkProbe(where string, c *corev1.Container, p *corev1.Probe, field, path string) {
	if p == nil || p.HTTPGet == nil {
		r.fail("%s: no %s (HTTP GET %s)", where, field, path)
		return
	}
	if p.HTTPGet.Path != path {
		r.fail("%s: %s on %s, wanted %s", where, field, p.HTTPGet.Path, path)
	}
	if !hasPort(c, p.HTTPGet.Port.String()) {
		r.fail("%s: %s port %s is none of the container's ports", where, field, p.HTTPGet.Port.String())
	}
}

func hasPort(c *corev1.Container, port string) bool {
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return true
		}
	}
	return false
}

// ref notes an object a pod needs: rendered, or the operator's to create.
func (r *rules) ref(where, kind, name, key string) {
	switch kind {
	case "ConfigMap":
		if cm, ok := r.configMaps[name]; ok {
			if key != "" {
				_, a := cm.Data[key]
				_, b := cm.BinaryData[key]
				if !a && !b {
					r.fail("%s: ConfigMap/%s has no key %s", where, name, key)
				}
			}
			return
		}
	case "Secret":
		if s, ok := r.secrets[name]; ok {
			if key != "" {
				_, a := s.Data[key]
				_, b := s.StringData[key]
				if !a && !b {
					r.fail("%s: Secret/%s has no key %s", where, name, key)
				}
			}
			return
		}
	}
	r.external[kind+"/"+name] = true
}

func (r *rules) checkEnvRefs(where string, c *corev1.Container) {
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			r.ref(where, "ConfigMap", e.ConfigMapRef.Name, "")
		}
		if e.SecretRef != nil {
			r.ref(where, "Secret", e.SecretRef.Name, "")
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if k := e.ValueFrom.ConfigMapKeyRef; k != nil {
			r.ref(where, "ConfigMap", k.Name, k.Key)
		}
		if k := e.ValueFrom.SecretKeyRef; k != nil {
			r.ref(where, "Secret", k.Name, k.Key)
		}
	}
}

func (r *rules) checkVolumes(w workload) {
	for _, v := range w.tmpl.Spec.Volumes {
		where := fmt.Sprintf("%s volume %s", w.o, v.Name)
		if v.ConfigMap != nil {
			r.ref(where, "ConfigMap", v.ConfigMap.Name, "")
			for _, it := range v.ConfigMap.Items {
				r.ref(where, "ConfigMap", v.ConfigMap.Name, it.Key)
			}
		}
		if v.Secret != nil {
			r.ref(where, "Secret", v.Secret.SecretName, "")
			for _, it := range v.Secret.Items {
				r.ref(where, "Secret", v.Secret.SecretName, it.Key)
			}
		}
	}
}

// envNames is every variable the container gets: its env and the keys of
// the ConfigMaps and Secrets of its envFrom that are rendered.
func (r *rules) envNames(c *corev1.Container) []string {
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			if cm, ok := r.configMaps[e.ConfigMapRef.Name]; ok {
				for k := range cm.Data {
					names = append(names, e.Prefix+k)
				}
			}
		}
		if e.SecretRef != nil {
			if s, ok := r.secrets[e.SecretRef.Name]; ok {
				for k := range s.Data {
					names = append(names, e.Prefix+k)
				}
				for k := range s.StringData {
					names = append(names, e.Prefix+k)
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

// checkOptions: a TALLY_* name or a flag the process does not have would be
// ignored without a word (or stop it at start): each must be in its --help.
func (r *rules) checkOptions(where string, c *corev1.Container) {
	bin := filepath.Base(commandOf(*c))
	help, ok := r.helps[bin]
	if !ok {
		data, err := os.ReadFile(filepath.Join(r.opt.helpDir, bin+".txt"))
		if err != nil {
			r.fail("%s: no --help of %s: %v", where, bin, err)
			return
		}
		help = string(data)
		r.helps[bin] = help
	}
	for _, n := range r.envNames(c) {
		if !strings.HasPrefix(n, "TALLY_") {
			continue
		}
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(n) + `\b`).MatchString(help) {
			r.fail("%s: %s is no option of %s", where, n, bin)
		}
	}
	for _, a := range append(append([]string{}, c.Command[1:]...), c.Args...) {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		flag := strings.SplitN(a, "=", 2)[0]
		if !regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(flag) + `([^A-Za-z0-9-]|$)`).MatchString(help) {
			r.fail("%s: %s has no flag %s", where, bin, flag)
		}
	}
}

// checkStatefulSet: a consumer's instance id (its transactional.id) is the
// pod's stable name, given through the downward API and never pinned by a
// flag, so two pods never share one and a restarted pod fences its zombie.
func (r *rules) checkStatefulSet(w workload, sts *appsv1.StatefulSet) {
	if sts.Spec.Replicas == nil {
		r.fail("%s: replicas not set", w.o)
	}
	if svc, ok := r.services[sts.Spec.ServiceName]; !ok {
		r.fail("%s: serviceName %q is no Service of the manifests", w.o, sts.Spec.ServiceName)
	} else if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		r.fail("%s: its Service %s is not headless (clusterIP: None)", w.o, svc.Name)
	}
	for _, c := range w.tmpl.Spec.Containers {
		id := ""
		for _, e := range c.Env {
			if (e.Name == "TALLY_INSTANCE_ID" || e.Name == "TALLY_CLIENT_ID") && e.ValueFrom != nil &&
				e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
				id = e.Name
			}
		}
		if id == "" {
			r.fail("%s container %s: no TALLY_INSTANCE_ID (or TALLY_CLIENT_ID) from the downward API's metadata.name", w.o, c.Name)
		}
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			if strings.HasPrefix(a, "--instance-id") || strings.HasPrefix(a, "--client-id") {
				r.fail("%s container %s: %s pins the instance id that the pod name gives", w.o, c.Name, a)
			}
		}
		if id != "" {
			r.note("%s: replicas %d, %s = the pod's metadata.name", w.o, *sts.Spec.Replicas, id)
		}
	}
}

func (r *rules) checkServices() {
	for _, o := range r.objs {
		svc, ok := o.obj.(*corev1.Service)
		if !ok {
			continue
		}
		var w *workload
		for i := range r.workloads {
			if selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, r.workloads[i].tmpl.Labels) {
				w = &r.workloads[i]
			}
		}
		if w == nil {
			r.fail("%s: its selector matches no pod template", o)
			continue
		}
		for _, p := range svc.Spec.Ports {
			found := false
			for i := range w.tmpl.Spec.Containers {
				found = found || hasPort(&w.tmpl.Spec.Containers[i], p.TargetPort.String())
			}
			if !found {
				r.fail("%s: targetPort %s is no port of %s", o, p.TargetPort.String(), w.o)
			}
		}
	}
}

func (r *rules) findWorkload(kind, name string) *workload {
	for i := range r.workloads {
		if r.workloads[i].o.kind == kind && r.workloads[i].o.name == name {
			return &r.workloads[i]
		}
	}
	return nil
}

func (r *rules) checkDisruptionAndScaling() {
	for _, o := range r.objs {
		switch v := o.obj.(type) {
		case *policyv1.PodDisruptionBudget:
			n := 0
			for _, w := range r.workloads {
				if selects(v.Spec.Selector, w.tmpl.Labels) {
					n++
				}
			}
			if n != 1 {
				r.fail("%s: its selector matches %d workloads, wanted 1", o, n)
			}
		case *networkingv1.Ingress:
			for _, rule := range v.Spec.Rules {
				if rule.HTTP == nil {
					continue
				}
				for _, path := range rule.HTTP.Paths {
					b := path.Backend.Service
					if b == nil {
						r.fail("%s: a path without a Service backend", o)
						continue
					}
					svc, ok := r.services[b.Name]
					if !ok {
						r.fail("%s: backend Service %s is not in the manifests", o, b.Name)
						continue
					}
					found := false
					for _, p := range svc.Spec.Ports {
						found = found || (b.Port.Name != "" && p.Name == b.Port.Name) || (b.Port.Number != 0 && p.Port == b.Port.Number)
					}
					if !found {
						r.fail("%s: Service %s has no port %s%d", o, b.Name, b.Port.Name, b.Port.Number)
					}
				}
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			t := v.Spec.ScaleTargetRef
			w := r.findWorkload(t.Kind, t.Name)
			if w == nil {
				r.fail("%s: its target %s/%s is not in the manifests", o, t.Kind, t.Name)
				continue
			}
			if w.replicas != nil {
				r.fail("%s: %s sets replicas, which the autoscaler owns (each apply would reset it)", o, w.o)
			}
			for _, c := range w.tmpl.Spec.Containers {
				if filepath.Base(commandOf(c)) == "tally-notifier" {
					r.fail("%s: scales tally-notifier, which runs as one instance", o)
				}
			}
			cpu := false
			for _, m := range v.Spec.Metrics {
				cpu = cpu || (m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU)
			}
			if !cpu {
				r.fail("%s: no CPU metric", o)
			}
			r.note("%s: %s from %d to %d pods on CPU", o, w.o, *v.Spec.MinReplicas, v.Spec.MaxReplicas)
		}
	}
}

var secretName = regexp.MustCompile(`(TOKEN|PG_URL|READER_URL|PASSWORD)$`)
var urlPassword = regexp.MustCompile(`://[^/@:]+:[^/@]+@`)

// checkSecretHygiene: tokens and database URLs come from Secrets, never
// from a ConfigMap or a literal in the pod template; production keeps no
// Secret in the repository and sends Secure cookies.
func (r *rules) checkSecretHygiene() {
	for name, cm := range r.configMaps {
		for k, v := range cm.Data {
			if secretName.MatchString(k) || urlPassword.MatchString(v) {
				r.fail("ConfigMap/%s: %s looks like a secret (a Secret's job)", name, k)
			}
			if r.opt.production && k == "TALLY_INSECURE_COOKIES" && v != "false" {
				r.fail("ConfigMap/%s: production console cookies without Secure", name)
			}
		}
	}
	for _, w := range r.workloads {
		for _, c := range append(append([]corev1.Container{}, w.tmpl.Spec.InitContainers...), w.tmpl.Spec.Containers...) {
			for _, e := range c.Env {
				if e.ValueFrom == nil && (secretName.MatchString(e.Name) || urlPassword.MatchString(e.Value)) {
					r.fail("%s container %s: %s is a literal; take it from a Secret", w.o, c.Name, e.Name)
				}
			}
			for _, a := range append(append([]string{}, c.Command...), c.Args...) {
				if urlPassword.MatchString(a) || strings.Contains(a, "--insecure-cookies") && r.opt.production {
					r.fail("%s container %s: %s on the command line", w.o, c.Name, a)
				}
			}
		}
	}
	if r.opt.production {
		for name := range r.secrets {
			r.fail("Secret/%s in the production manifests: production Secrets are the operator's, never in the repository", name)
		}
	}
}
