package injector

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Op is one JSON Patch (RFC 6902) operation. The injector emits only "add": it never
// removes or replaces what the pod's owner wrote.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Decision is the outcome for one pod: the patch (empty when nothing is to change) and
// warnings for the client (kubectl prints them).
type Decision struct {
	Patch    []Op
	Warnings []string
	Status   string // the sidecache.io/status value written, "" when the pod was left alone
}

// Mutate decides on a pod created in namespace. ownNamespace is the injector's own, which
// never gets a sidecar.
func (c *Config) Mutate(pod *corev1.Pod, namespace, ownNamespace string) Decision {
	if _, done := pod.Annotations[AnnotationStatus]; done || hasSidecar(pod) {
		return Decision{} // idempotent: a decided pod is never patched twice
	}
	if pod.Labels[InjectLabel] != "true" {
		return Decision{}
	}
	if namespace == "kube-system" || namespace == ownNamespace || slices.Contains(c.SkipNamespaces, namespace) {
		return Decision{}
	}
	ch, err := c.choose(pod)
	if err != nil {
		return c.skip(pod, err.Error())
	}
	if pod.Spec.OS != nil && pod.Spec.OS.Name == corev1.Windows {
		return c.skip(pod, "the sidecar image is Linux only")
	}
	if pod.Spec.HostNetwork {
		return c.skip(pod, "hostNetwork pods share the node's loopback; use the DaemonSet mode")
	}
	if !ch.native && pod.Spec.RestartPolicy != "" && pod.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		// A legacy sidecar never exits, so a Job's pod would never complete.
		return c.skip(pod, fmt.Sprintf("restartPolicy %s (a Job?) needs a native sidecar: set %s: \"true\" on Kubernetes >= 1.29",
			pod.Spec.RestartPolicy, AnnotationNativeSidecar))
	}
	if reason := c.conflict(pod, ch); reason != "" {
		return c.skip(pod, reason)
	}
	limit, err := c.memoryLimit(ch.maxmemory)
	if err != nil {
		return c.skip(pod, err.Error())
	}

	var p patch
	sidecar := c.container(ch, corev1.ResourceList{corev1.ResourceMemory: limit})
	url := c.redisURL(ch)
	for i, ctr := range pod.Spec.Containers {
		base := "/spec/containers/" + strconv.Itoa(i)
		if !slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == EnvRedisURL }) {
			p.addToList(base+"/env", len(ctr.Env), corev1.EnvVar{Name: EnvRedisURL, Value: url})
		}
		if ch.unixSocket {
			p.addToList(base+"/volumeMounts", len(ctr.VolumeMounts), corev1.VolumeMount{Name: VolumeName, MountPath: c.UnixSocket.Dir})
		}
	}
	if ch.unixSocket {
		p.addToList("/spec/volumes", len(pod.Spec.Volumes), c.volume())
		switch {
		case pod.Spec.SecurityContext == nil:
			p.add("/spec/securityContext", corev1.PodSecurityContext{FSGroup: &c.FSGroup})
		case pod.Spec.SecurityContext.FSGroup == nil:
			p.add("/spec/securityContext/fsGroup", c.FSGroup)
		}
		// An fsGroup already set is kept: the socket's group is then that one, which the
		// app shares the same way.
	}
	if ch.native {
		// First in the list, so the kubelet starts it (and waits for its startup probe)
		// before any other init container and before the app.
		if len(pod.Spec.InitContainers) == 0 {
			p.add("/spec/initContainers", []corev1.Container{sidecar})
		} else {
			p.add("/spec/initContainers/0", sidecar)
		}
	} else {
		// Last, so kubectl logs/exec keep defaulting to the app's first container.
		p.addToList("/spec/containers", len(pod.Spec.Containers), sidecar)
	}
	ann := map[string]string{AnnotationStatus: "injected"}
	if _, has := pod.Annotations["prometheus.io/scrape"]; c.MetricsAnnotations && !has {
		ann["prometheus.io/scrape"] = "true"
		ann["prometheus.io/port"] = strconv.Itoa(int(c.AdminPort))
		ann["prometheus.io/path"] = "/metrics"
	}
	p.annotate(pod, ann)
	return Decision{Patch: p.ops, Status: "injected"}
}

// conflict names what in the pod would collide with the sidecar: its ports (declared ones;
// the pod shares one network namespace) or its socket directory.
func (c *Config) conflict(pod *corev1.Pod, ch choice) string {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, ctr := range list {
			for _, p := range ctr.Ports {
				if (p.ContainerPort == c.Port && c.Port != 0) || p.ContainerPort == c.AdminPort {
					return fmt.Sprintf("container %s uses port %d", ctr.Name, p.ContainerPort)
				}
			}
			for _, m := range ctr.VolumeMounts {
				if ch.unixSocket && m.MountPath == c.UnixSocket.Dir {
					return fmt.Sprintf("container %s already mounts %s", ctr.Name, m.MountPath)
				}
			}
		}
	}
	if ch.unixSocket && slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == VolumeName }) {
		return "the pod already has a volume named " + VolumeName
	}
	return ""
}

// skip leaves the pod without a sidecar, says why in its status annotation and a warning.
func (c *Config) skip(pod *corev1.Pod, reason string) Decision {
	var p patch
	status := "skipped: " + reason
	p.annotate(pod, map[string]string{AnnotationStatus: status})
	return Decision{Patch: p.ops, Status: status, Warnings: []string{"sidecache-injector: no sidecar: " + reason}}
}

// choose applies the pod's override annotations to the defaults.
func (c *Config) choose(pod *corev1.Pod) (choice, error) {
	ch := choice{native: c.NativeSidecar, unixSocket: c.UnixSocket.Enabled, maxmemory: c.MaxMemory}
	a := pod.Annotations
	if v, ok := a[AnnotationMaxMemory]; ok {
		if v != "auto" {
			if _, err := parseSize(v); err != nil {
				return ch, fmt.Errorf("%s %q: %v", AnnotationMaxMemory, v, err)
			}
		}
		ch.maxmemory = v
	}
	for _, o := range []struct {
		name string
		dst  *bool
	}{{AnnotationUnixSocket, &ch.unixSocket}, {AnnotationNativeSidecar, &ch.native}} {
		v, ok := a[o.name]
		if !ok {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return ch, fmt.Errorf("%s %q: want \"true\" or \"false\"", o.name, v)
		}
		*o.dst = b
	}
	if ch.unixSocket && (c.UnixSocket.Dir == "" || c.UnixSocket.Name == "") {
		return ch, fmt.Errorf("%s: the injector has no socket directory configured", AnnotationUnixSocket)
	}
	if !ch.unixSocket && c.Port == 0 {
		return ch, fmt.Errorf("%s \"false\" with no TCP port configured leaves nothing to connect to", AnnotationUnixSocket)
	}
	return ch, nil
}

func hasSidecar(pod *corev1.Pod) bool {
	is := func(c corev1.Container) bool { return c.Name == ContainerName }
	return slices.ContainsFunc(pod.Spec.Containers, is) || slices.ContainsFunc(pod.Spec.InitContainers, is)
}

// patch collects add operations.
type patch struct{ ops []Op }

func (p *patch) add(path string, v any) { p.ops = append(p.ops, Op{Op: "add", Path: path, Value: v}) }

// addToList appends v to the list at path, creating the list when it has n == 0 elements
// (an absent list cannot be appended to with "/-").
func (p *patch) addToList(path string, n int, v any) {
	if n == 0 {
		p.add(path, []any{v})
		return
	}
	p.add(path+"/-", v)
}

// annotate adds annotations the pod does not have (callers check), in key order.
func (p *patch) annotate(pod *corev1.Pod, ann map[string]string) {
	if len(pod.Annotations) == 0 {
		p.add("/metadata/annotations", ann)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(ann)) {
		p.add("/metadata/annotations/"+escapePointer(k), ann[k])
	}
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
