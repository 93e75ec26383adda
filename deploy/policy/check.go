package policy

import (
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Names the rules look for.
const (
	SidecarName  = "sidecache"
	InjectorName = "sidecache-injector"
)

// Check applies the rules to a set of documents that belong together (one rendering, one
// manifests directory) and returns every violation.
//
//   - a pod with a sidecache container: it runs non-root on a read-only root with no
//     capabilities and the RuntimeDefault seccomp profile; a native sidecar is the first init
//     container, restartPolicy Always, with a startup probe; the memory limit holds the RSS
//     bound for an explicit maxmemory, and "auto" has a limit to size from; probes run no
//     shell; a Unix socket sits on an emptyDir shared with the app under a pod fsGroup;
//     RESP listens on loopback only, unless it is a DaemonSet, which needs requirepass from
//     a Secret and a Service with internalTrafficPolicy Local;
//   - the injector: at least 2 replicas with a PodDisruptionBudget, hardened like the sidecar;
//   - the webhook: sideEffects None, admissionReviewVersions [v1], a timeout, selectors that
//     opt in by label and exclude kube-system.
func Check(objs []Object) error {
	var errs []error
	fail := func(o Object, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o, err))
		}
	}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			if hasContainer(&v.Spec.Template.Spec, InjectorName) {
				fail(o, checkInjector(v, objs))
			} else {
				fail(o, CheckPod(&v.Spec.Template.Spec, false))
			}
		case *appsv1.DaemonSet:
			fail(o, CheckPod(&v.Spec.Template.Spec, true))
			fail(o, checkDaemonSetService(v, objs))
		case *batchv1.Job:
			fail(o, CheckPod(&v.Spec.Template.Spec, false))
		case *corev1.Pod:
			fail(o, CheckPod(&v.Spec, false))
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			fail(o, CheckWebhook(v))
		}
	}
	return errors.Join(errs...)
}

func hasContainer(spec *corev1.PodSpec, name string) bool {
	return findContainer(spec, name) != nil
}

// findContainer returns the named container among init and app containers.
func findContainer(spec *corev1.PodSpec, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func env(c *corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// CheckPod checks a pod spec that has (or should have) a sidecache container; nodeLocal is
// the DaemonSet case, where RESP is reached from other pods.
func CheckPod(spec *corev1.PodSpec, nodeLocal bool) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	idx := slices.IndexFunc(spec.InitContainers, func(c corev1.Container) bool { return c.Name == SidecarName })
	var c *corev1.Container
	if idx >= 0 {
		c = &spec.InitContainers[idx]
		if idx != 0 {
			bad("native sidecar is init container %d, want first", idx)
		}
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			bad("native sidecar without restartPolicy Always")
		}
		if c.StartupProbe == nil {
			bad("native sidecar without a startup probe (the app would start before the cache listens)")
		}
	} else {
		i := slices.IndexFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == SidecarName })
		if i < 0 {
			return errors.New("no sidecache container")
		}
		c = &spec.Containers[i]
		if c.RestartPolicy != nil {
			bad("restartPolicy on a regular container")
		}
	}
	errs = append(errs, checkHardened(spec, c)...)
	errs = append(errs, checkMemory(c)...)
	errs = append(errs, checkProbes(c)...)

	if e, ok := env(c, "SIDECACHE_PORT"); !ok || e.Value == "" {
		bad("SIDECACHE_PORT not set explicitly (a Service named sidecache injects SIDECACHE_PORT=tcp://... otherwise)")
	}
	bind, _ := env(c, "SIDECACHE_BIND")
	port, _ := env(c, "SIDECACHE_PORT")
	pass, hasPass := env(c, "SIDECACHE_REQUIREPASS")
	if hasPass && (pass.Value != "" || pass.ValueFrom == nil || pass.ValueFrom.SecretKeyRef == nil) {
		bad("SIDECACHE_REQUIREPASS must come from a Secret (secretKeyRef), not a literal")
	}
	if nodeLocal {
		if !hasPass {
			bad("a node-local cache is reached from other pods: it needs requirepass from a Secret")
		}
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return strconv.Itoa(int(p.ContainerPort)) == port.Value }) {
			bad("a node-local cache must declare its RESP port %s", port.Value)
		}
	} else if port.Value != "0" {
		for _, h := range strings.Fields(bind.Value) {
			if ip := net.ParseIP(strings.TrimPrefix(h, "-")); ip == nil || !ip.IsLoopback() {
				bad("sidecar binds RESP to %q: a sidecar listens on loopback only", bind.Value)
			}
		}
		if bind.Value == "" {
			bad("sidecar without SIDECACHE_BIND")
		}
	}
	errs = append(errs, checkSocket(spec, c)...)
	return errors.Join(errs...)
}

// checkHardened: non-root, read-only root, no privilege escalation, no capabilities,
// RuntimeDefault seccomp (set on the container or inherited from the pod).
func checkHardened(spec *corev1.PodSpec, c *corev1.Container) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("container %s: "+format, append([]any{c.Name}, a...)...))
	}
	sc := c.SecurityContext
	if sc == nil {
		return []error{fmt.Errorf("container %s: no securityContext", c.Name)}
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		bad("runAsNonRoot is not true")
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid != nil && *uid == 0 {
		bad("runAsUser 0")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		bad("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		bad("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		bad("capabilities must drop ALL and add none")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("seccompProfile is not RuntimeDefault")
	}
	return errs
}

// checkMemory: with an explicit maxmemory, the memory limit holds DESIGN.md's RSS bound
// (limit >= 1.1 x maxmemory + maxmemory-clients + 32 MiB); with auto, there is a limit.
func checkMemory(c *corev1.Container) []error {
	limit, hasLimit := c.Resources.Limits[corev1.ResourceMemory]
	mm, ok := env(c, "SIDECACHE_MAXMEMORY")
	if !ok || mm.Value == "auto" {
		if !hasLimit {
			return []error{errors.New("maxmemory auto without a memory limit to size from")}
		}
		return nil
	}
	maxmemory, err := redisSize(mm.Value)
	if err != nil || maxmemory == 0 {
		return []error{fmt.Errorf("maxmemory %q: explicit and non-zero, or auto", mm.Value)}
	}
	mc, _ := env(c, "SIDECACHE_MAXMEMORY_CLIENTS")
	var clients int64
	if p, ok := strings.CutSuffix(mc.Value, "%"); ok {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return []error{fmt.Errorf("maxmemory-clients %q", mc.Value)}
		}
		clients = maxmemory * n / 100
	} else if clients, err = redisSize(mc.Value); err != nil {
		return []error{fmt.Errorf("maxmemory-clients %q", mc.Value)}
	}
	if clients == 0 {
		return []error{errors.New("maxmemory-clients unset or 0: client buffers are unbounded, so is RSS")}
	}
	if !hasLimit {
		return []error{errors.New("explicit maxmemory without a memory limit")}
	}
	// 10 x limit >= 11 x maxmemory + 10 x (clients + 32 MiB), in integers.
	if 10*limit.Value() < 11*maxmemory+10*(clients+32<<20) {
		return []error{fmt.Errorf("memory limit %s < 1.1 x maxmemory %s + maxmemory-clients %s + 32 MiB", limit.String(), mm.Value, mc.Value)}
	}
	return nil
}

// redisSize parses a Redis memory value (k = 1000, kb = 1024, ...), independently of the
// server's and the injector's parsers.
func redisSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mul    int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}}
	s = strings.ToLower(s)
	mul := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mul = n, u.mul
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 63)
	return int64(n) * mul, err
}

// checkProbes: liveness and readiness exist; no probe runs a shell: exec runs the binary's
// own "ping", httpGet asks /health or /ready on the admin port, or tcpSocket.
func checkProbes(c *corev1.Container) []error {
	var errs []error
	admin := ""
	if e, ok := env(c, "SIDECACHE_ADMIN_ADDR"); ok {
		_, admin, _ = net.SplitHostPort(e.Value)
		if h, _, _ := net.SplitHostPort(e.Value); net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
			errs = append(errs, errors.New("admin address is loopback: kubelet probes cannot reach it"))
		}
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		errs = append(errs, errors.New("liveness and readiness probes are required"))
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil {
			continue
		}
		switch h := p.ProbeHandler; {
		case h.Exec != nil:
			cmd := h.Exec.Command
			if len(cmd) < 2 || path.Base(cmd[0]) != "sidecache" || cmd[1] != "ping" {
				errs = append(errs, fmt.Errorf("%s probe execs %q: want the binary's own \"sidecache ping\", no shell", name, cmd))
			}
		case h.HTTPGet != nil:
			if h.HTTPGet.Path != "/health" && h.HTTPGet.Path != "/ready" {
				errs = append(errs, fmt.Errorf("%s probe GETs %s: want /health or /ready", name, h.HTTPGet.Path))
			}
			if port := resolvePort(c, h.HTTPGet.Port.String()); port != admin {
				errs = append(errs, fmt.Errorf("%s probe on port %s, admin address is on %s", name, port, admin))
			}
		case h.TCPSocket != nil:
		default:
			errs = append(errs, fmt.Errorf("%s probe: want exec sidecache ping, httpGet or tcpSocket", name))
		}
	}
	return errs
}

func resolvePort(c *corev1.Container, p string) string {
	for _, cp := range c.Ports {
		if cp.Name == p {
			return strconv.Itoa(int(cp.ContainerPort))
		}
	}
	return p
}

// checkSocket: a Unix socket lives in an emptyDir mounted by the sidecar and by every app
// container, with a pod fsGroup and group permissions so the app (another uid) connects.
func checkSocket(spec *corev1.PodSpec, c *corev1.Container) []error {
	sock, ok := env(c, "SIDECACHE_UNIXSOCKET")
	if !ok || sock.Value == "" {
		return nil
	}
	var errs []error
	dir := path.Dir(sock.Value)
	mount := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir })
	if mount < 0 {
		return []error{fmt.Errorf("socket dir %s is not a mounted volume (the root filesystem is read-only)", dir)}
	}
	vol := c.VolumeMounts[mount].Name
	vi := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vol })
	if vi < 0 || spec.Volumes[vi].EmptyDir == nil {
		errs = append(errs, fmt.Errorf("socket volume %s is not an emptyDir", vol))
	}
	for _, app := range spec.Containers {
		if app.Name == c.Name {
			continue
		}
		if !slices.ContainsFunc(app.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == vol }) {
			errs = append(errs, fmt.Errorf("app container %s does not mount the socket volume %s", app.Name, vol))
		}
	}
	if spec.SecurityContext == nil || spec.SecurityContext.FSGroup == nil {
		errs = append(errs, errors.New("socket without a pod fsGroup: the app container cannot share its group"))
	}
	perm, _ := env(c, "SIDECACHE_UNIXSOCKETPERM")
	if p, err := strconv.ParseUint(perm.Value, 8, 32); err != nil || p&0o060 != 0o060 {
		errs = append(errs, fmt.Errorf("unixsocketperm %q: the group needs read and write", perm.Value))
	} else if p&0o007 != 0 {
		errs = append(errs, fmt.Errorf("unixsocketperm %q: others get no access", perm.Value))
	}
	return errs
}

// checkDaemonSetService: a Service selects the DaemonSet's pods with internalTrafficPolicy
// Local, so each client reaches the cache on its own node.
func checkDaemonSetService(ds *appsv1.DaemonSet, objs []Object) error {
	for _, o := range objs {
		svc, ok := o.Obj.(*corev1.Service)
		if !ok || len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) {
			continue
		}
		if svc.Spec.InternalTrafficPolicy == nil || *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal {
			return fmt.Errorf("service %s selects the DaemonSet without internalTrafficPolicy Local", svc.Name)
		}
		return nil
	}
	return errors.New("no Service selects the DaemonSet")
}

// checkInjector: highly available (>= 2 replicas, a PDB), hardened.
func checkInjector(d *appsv1.Deployment, objs []Object) error {
	var errs []error
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		errs = append(errs, errors.New("injector needs at least 2 replicas"))
	}
	c := findContainer(&d.Spec.Template.Spec, InjectorName)
	errs = append(errs, checkHardened(&d.Spec.Template.Spec, c)...)
	hasPDB := slices.ContainsFunc(objs, func(o Object) bool {
		pdb, ok := o.Obj.(*policyv1.PodDisruptionBudget)
		if !ok || pdb.Spec.Selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		return err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels))
	})
	if !hasPDB {
		errs = append(errs, errors.New("injector without a PodDisruptionBudget"))
	}
	return errors.Join(errs...)
}

// CheckWebhook: side-effect free, v1 reviews, a bounded timeout, pods on CREATE, opt-in by
// namespace and pod label, never kube-system.
func CheckWebhook(m *admissionregistrationv1.MutatingWebhookConfiguration) error {
	var errs []error
	if len(m.Webhooks) == 0 {
		return errors.New("no webhooks")
	}
	for _, w := range m.Webhooks {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("webhook %s: "+format, append([]any{w.Name}, a...)...))
		}
		if w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone {
			bad("sideEffects is not None")
		}
		if !slices.Equal(w.AdmissionReviewVersions, []string{"v1"}) {
			bad("admissionReviewVersions %v, want [v1]", w.AdmissionReviewVersions)
		}
		if w.FailurePolicy == nil {
			bad("no failurePolicy")
		}
		if w.TimeoutSeconds == nil || *w.TimeoutSeconds < 1 || *w.TimeoutSeconds > 30 {
			bad("timeoutSeconds must be set, 1..30")
		}
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || *w.ClientConfig.Service.Path != "/mutate" {
			bad("clientConfig must name the injector Service and /mutate")
		}
		for _, r := range w.Rules {
			if !slices.Equal(r.Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) ||
				!slices.Equal(r.Resources, []string{"pods"}) {
				bad("rule %v: want pods on CREATE only", r)
			}
		}
		if len(w.Rules) == 0 {
			bad("no rules")
		}
		// Selectors may be narrowed by the user's own labels: probe with those added.
		ns, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
		if err != nil || w.NamespaceSelector == nil {
			bad("no namespaceSelector")
		} else {
			nsLabels := func(name string, injection bool) labels.Set {
				l := labels.Set{"kubernetes.io/metadata.name": name}
				for k, v := range w.NamespaceSelector.MatchLabels {
					l[k] = v
				}
				if !injection {
					delete(l, "sidecache.io/injection")
				}
				return l
			}
			if ns.Matches(nsLabels("kube-system", true)) {
				bad("namespaceSelector admits kube-system")
			}
			if !ns.Matches(nsLabels("app", true)) || w.NamespaceSelector.MatchLabels["sidecache.io/injection"] != "enabled" {
				bad("namespaceSelector does not admit a namespace labelled sidecache.io/injection=enabled")
			}
			if ns.Matches(nsLabels("app", false)) {
				bad("namespaceSelector admits a namespace without sidecache.io/injection=enabled")
			}
		}
		obj, err := metav1.LabelSelectorAsSelector(w.ObjectSelector)
		if err != nil || w.ObjectSelector == nil || w.ObjectSelector.MatchLabels["sidecache.io/inject"] != "true" {
			bad("objectSelector must require the label sidecache.io/inject=true")
		} else {
			podLabels := labels.Set{}
			for k, v := range w.ObjectSelector.MatchLabels {
				podLabels[k] = v
			}
			if !obj.Matches(podLabels) {
				bad("objectSelector admits no pod labelled sidecache.io/inject=true")
			}
		}
	}
	return errors.Join(errs...)
}
