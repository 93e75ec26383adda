package injector_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/sidecache/sidecache/deploy/injector"
	"github.com/sidecache/sidecache/deploy/policy"
)

// baseConfig is a config as the chart renders it; tests change fields with edits.
const baseConfig = `
image: sidecache/sidecache:0.1.0
imagePullPolicy: IfNotPresent
nativeSidecar: false
port: 6379
adminPort: 9121
unixSocket: {enabled: false, dir: /var/run/sidecache, name: sidecache.sock, perm: "770", medium: Memory, sizeLimit: 1Mi}
fsGroup: 65532
maxmemory: auto
maxmemoryClients: 16mb
maxmemoryPolicy: allkeys-lfu
databases: 16
maxclients: 10000
shutdownDelay: auto
legacyShutdownDelay: 5s
shutdownTimeout: 10s
resources:
  requests: {cpu: 50m, memory: 64Mi}
  limits: {memory: 128Mi}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
  seccompProfile: {type: RuntimeDefault}
startupProbe:
  exec: {command: [/usr/local/bin/sidecache, ping]}
  periodSeconds: 1
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /health, port: 9121}
readinessProbe:
  httpGet: {path: /ready, port: 9121}
skipNamespaces: [monitoring]
`

func config(t *testing.T, edits ...func(*injector.Config)) *injector.Config {
	t.Helper()
	c, err := injector.ParseConfig([]byte(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		e(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// appPod is a pod as a Deployment's ReplicaSet creates it (after API server defaulting).
const appPod = `
apiVersion: v1
kind: Pod
metadata:
  generateName: web-7d4b9c-
  namespace: shop
  labels: {app: web, sidecache.io/inject: "true"}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d4b9c, uid: 1b2c, controller: true}]
spec:
  restartPolicy: Always
  containers:
  - name: web
    image: shop/web:1.4
    ports: [{containerPort: 8080, name: http}]
    securityContext: {runAsUser: 1000, runAsNonRoot: true}
  - name: worker
    image: shop/worker:1.4
    env: [{name: LOG_LEVEL, value: info}]
    volumeMounts: [{name: cfg, mountPath: /etc/shop}]
  volumes: [{name: cfg, configMap: {name: shop}}]
`

// review wraps a pod (YAML) in an AdmissionReview v1 request as the API server sends it.
func review(t *testing.T, namespace, op string, podYAML string) []byte {
	t.Helper()
	pod, err := yaml.YAMLToJSON([]byte(podYAML))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(fmt.Sprintf(`{
  "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
  "request": {
    "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
    "requestResource": {"group": "", "version": "v1", "resource": "pods"},
    "namespace": %q, "operation": %q,
    "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
    "object": %s, "oldObject": null, "dryRun": false,
    "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
  }
}`, namespace, op, pod))
}

// result is one round trip through the webhook over HTTP.
type result struct {
	resp    *admissionv1.AdmissionResponse
	podJSON []byte      // the pod after the patch
	pod     *corev1.Pod // decoded strictly
}

func call(t *testing.T, h http.Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Post(srv.URL+"/mutate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, out)
	}
	var rv admissionv1.AdmissionReview
	if err := policy.StrictUnmarshalJSON(out, &rv); err != nil {
		t.Fatalf("response: %v\n%s", err, out)
	}
	if rv.APIVersion != "admission.k8s.io/v1" || rv.Kind != "AdmissionReview" || rv.Response == nil {
		t.Fatalf("not an AdmissionReview v1 response: %s", out)
	}
	if rv.Response.UID != "705ab4f5-6393-11e8-b7cc-42010a800002" {
		t.Fatalf("uid %q not echoed", rv.Response.UID)
	}
	if !rv.Response.Allowed {
		t.Fatalf("not allowed: %s", out)
	}
	return rv.Response
}

// admit sends the pod through the webhook and applies the returned patch.
func admit(t *testing.T, c *injector.Config, namespace, podYAML string) result {
	t.Helper()
	h := &injector.Handler{Config: c, OwnNamespace: "sidecache-system", Log: slog.New(slog.DiscardHandler)}
	resp := call(t, h, review(t, namespace, "CREATE", podYAML))
	podJSON, err := yaml.YAMLToJSON([]byte(podYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Patch) > 0 {
		if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch without patchType JSONPatch")
		}
		var ops []map[string]any
		if err := json.Unmarshal(resp.Patch, &ops); err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			if op["op"] != "add" {
				t.Fatalf("op %v: the injector only ever adds", op)
			}
		}
		p, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatal(err)
		}
		if podJSON, err = p.Apply(podJSON); err != nil {
			t.Fatalf("patch does not apply: %v\n%s", err, resp.Patch)
		}
	}
	var pod corev1.Pod
	if err := policy.StrictUnmarshalJSON(podJSON, &pod); err != nil {
		t.Fatalf("patched pod: %v\n%s", err, podJSON)
	}
	return result{resp: resp, podJSON: podJSON, pod: &pod}
}

// injected admits the pod, expects a sidecar that passes the policy, and checks that a second
// pass over the patched pod returns an empty patch.
func injected(t *testing.T, c *injector.Config, podYAML string) *corev1.Pod {
	t.Helper()
	r := admit(t, c, "shop", podYAML)
	if got := r.pod.Annotations[injector.AnnotationStatus]; got != "injected" {
		t.Fatalf("status %q, warnings %v", got, r.resp.Warnings)
	}
	if err := policy.CheckPod(&r.pod.Spec, false); err != nil {
		t.Fatalf("injected pod breaks the policy:\n%v", err)
	}
	again := admit(t, c, "shop", string(r.podJSON))
	if len(again.resp.Patch) != 0 || again.resp.PatchType != nil {
		t.Fatalf("second pass patched again: %s", again.resp.Patch)
	}
	return r.pod
}

// notInjected admits the pod and expects it unchanged but for a status annotation
// (wantStatus, "" for none) and the warning that goes with it.
func notInjected(t *testing.T, c *injector.Config, namespace, podYAML, wantStatus string) {
	t.Helper()
	r := admit(t, c, namespace, podYAML)
	var before corev1.Pod
	if err := yaml.Unmarshal([]byte(podYAML), &before); err != nil {
		t.Fatal(err)
	}
	after := r.pod.DeepCopy()
	delete(after.Annotations, injector.AnnotationStatus)
	delete(before.Annotations, injector.AnnotationStatus)
	if len(after.Annotations) == 0 && len(before.Annotations) == 0 {
		after.Annotations, before.Annotations = nil, nil
	}
	if !equality.Semantic.DeepEqual(&before, after) {
		t.Fatalf("pod changed beyond its status annotation:\n%s", r.podJSON)
	}
	got := r.pod.Annotations[injector.AnnotationStatus]
	if !strings.HasPrefix(got, wantStatus) || (wantStatus == "") != (got == "") {
		t.Fatalf("status %q, want prefix %q", got, wantStatus)
	}
	added := got != "" && !strings.Contains(podYAML, injector.AnnotationStatus)
	if added != (len(r.resp.Warnings) > 0) {
		t.Fatalf("warnings %v with status %q", r.resp.Warnings, got)
	}
}

func env(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func sidecar(t *testing.T, pod *corev1.Pod) (c *corev1.Container, native bool) {
	t.Helper()
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == injector.ContainerName {
			return &pod.Spec.InitContainers[i], true
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == injector.ContainerName {
			return &pod.Spec.Containers[i], false
		}
	}
	t.Fatal("no sidecar")
	return nil, false
}

// withAnnotations adds annotations (a YAML flow map) to appPod.
func withAnnotations(a string) string {
	return strings.Replace(appPod, "  namespace: shop\n", "  namespace: shop\n  annotations: "+a+"\n", 1)
}

func TestInjectLegacyTCP(t *testing.T) {
	pod := injected(t, config(t, func(c *injector.Config) { c.MetricsAnnotations = true }), appPod)
	if a := pod.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9121" || a["prometheus.io/path"] != "/metrics" {
		t.Fatalf("metrics annotations %v", a)
	}
	c, native := sidecar(t, pod)
	if native || pod.Spec.Containers[len(pod.Spec.Containers)-1].Name != injector.ContainerName {
		t.Fatalf("legacy sidecar must be the last container")
	}
	if pod.Spec.Containers[0].Name != "web" || pod.Spec.Containers[1].Name != "worker" {
		t.Fatalf("app containers moved")
	}
	for _, app := range pod.Spec.Containers[:2] {
		if u, _ := env(&app, injector.EnvRedisURL); u != "redis://127.0.0.1:6379" {
			t.Fatalf("%s: REDIS_URL %q", app.Name, u)
		}
	}
	if v, _ := env(&pod.Spec.Containers[1], "LOG_LEVEL"); v != "info" {
		t.Fatal("existing env lost")
	}
	if v, _ := env(c, "SIDECACHE_SHUTDOWN_DELAY"); v != "5s" {
		t.Fatalf("legacy sidecar shutdown delay %q, want the legacy delay", v)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.SecurityContext != nil {
		t.Fatalf("TCP injection touched volumes or the pod securityContext")
	}
}

func TestInjectNativeUnixSocket(t *testing.T) {
	cfg := config(t, func(c *injector.Config) { c.NativeSidecar = true; c.UnixSocket.Enabled = true })
	withInit := strings.Replace(appPod, "  containers:\n", "  initContainers: [{name: migrate, image: shop/migrate:1.4}]\n  containers:\n", 1)
	pod := injected(t, cfg, withInit)
	if pod.Spec.InitContainers[0].Name != injector.ContainerName || pod.Spec.InitContainers[1].Name != "migrate" {
		t.Fatalf("native sidecar not first: %v", pod.Spec.InitContainers)
	}
	c, _ := sidecar(t, pod)
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways || c.StartupProbe == nil {
		t.Fatal("native sidecar needs restartPolicy Always and a startup probe")
	}
	if v, _ := env(c, "SIDECACHE_SHUTDOWN_DELAY"); v != "0" {
		t.Fatalf("native shutdown delay %q, want 0", v)
	}
	if v, _ := env(c, "SIDECACHE_UNIXSOCKET"); v != "/var/run/sidecache/sidecache.sock" {
		t.Fatalf("socket %q", v)
	}
	if u, _ := env(&pod.Spec.Containers[0], injector.EnvRedisURL); u != "unix:///var/run/sidecache/sidecache.sock" {
		t.Fatalf("REDIS_URL %q", u)
	}
	if g := pod.Spec.SecurityContext.FSGroup; g == nil || *g != 65532 {
		t.Fatalf("fsGroup %v", g)
	}
	vol := pod.Spec.Volumes[len(pod.Spec.Volumes)-1]
	if vol.Name != injector.VolumeName || vol.EmptyDir == nil || vol.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Fatalf("socket volume %+v", vol)
	}
	if len(pod.Spec.InitContainers[1].VolumeMounts) != 0 {
		t.Fatal("socket mounted into a run-once init container")
	}
}

func TestInjectKeepsWhatIsThere(t *testing.T) {
	cfg := config(t, func(c *injector.Config) { c.UnixSocket.Enabled = true; c.MetricsAnnotations = true })
	own := strings.Replace(withAnnotations(`{prometheus.io/scrape: "false", team: shop}`), "    env: [{name: LOG_LEVEL, value: info}]\n",
		"    env: [{name: REDIS_URL, value: \"redis://cache:6379\"}]\n", 1)
	own = strings.Replace(own, "spec:\n", "spec:\n  securityContext: {fsGroup: 2000, runAsNonRoot: true}\n", 1)
	pod := injected(t, cfg, own)
	if u, _ := env(&pod.Spec.Containers[1], injector.EnvRedisURL); u != "redis://cache:6379" {
		t.Fatalf("app's own REDIS_URL replaced by %q", u)
	}
	if g := *pod.Spec.SecurityContext.FSGroup; g != 2000 || !*pod.Spec.SecurityContext.RunAsNonRoot {
		t.Fatalf("pod securityContext changed: %+v", pod.Spec.SecurityContext)
	}
	if a := pod.Annotations; a["prometheus.io/scrape"] != "false" || a["team"] != "shop" || a[injector.AnnotationStatus] != "injected" {
		t.Fatalf("annotations %v", a)
	}
}

func TestOverrides(t *testing.T) {
	f := func(annotations string, native, socket bool, maxmemory, memLimit string) {
		t.Helper()
		pod := injected(t, config(t), withAnnotations(annotations))
		c, isNative := sidecar(t, pod)
		_, hasSocket := env(c, "SIDECACHE_UNIXSOCKET")
		mm, _ := env(c, "SIDECACHE_MAXMEMORY")
		limit := c.Resources.Limits[corev1.ResourceMemory]
		if isNative != native || hasSocket != socket || mm != maxmemory || limit.String() != memLimit {
			t.Fatalf("%s: native %v socket %v maxmemory %q limit %s", annotations, isNative, hasSocket, mm, limit.String())
		}
	}
	f(`{}`, false, false, "auto", "128Mi")
	f(`{sidecache.io/native-sidecar: "true"}`, true, false, "auto", "128Mi")
	f(`{sidecache.io/unixsocket: "true"}`, false, true, "auto", "128Mi")
	// 1.1 x 512 MiB + 16 MiB + 32 MiB = 611.2 MiB, rounded up.
	f(`{sidecache.io/maxmemory: 512mb}`, false, false, "512mb", "612Mi")
	// A configured limit above the bound stays.
	f(`{sidecache.io/maxmemory: 64mb}`, false, false, "64mb", "128Mi")
	f(`{sidecache.io/maxmemory: 1gb, sidecache.io/unixsocket: "true", sidecache.io/native-sidecar: "true"}`, true, true, "1gb", "1175Mi")

	// Overrides the other way, from a native socket default.
	cfg := config(t, func(c *injector.Config) { c.NativeSidecar = true; c.UnixSocket.Enabled = true })
	pod := injected(t, cfg, withAnnotations(`{sidecache.io/native-sidecar: "false", sidecache.io/unixsocket: "false"}`))
	if c, native := sidecar(t, pod); native {
		t.Fatal("native-sidecar false ignored")
	} else if _, ok := env(c, "SIDECACHE_UNIXSOCKET"); ok || len(pod.Spec.Volumes) != 1 {
		t.Fatal("unixsocket false ignored")
	}
}

func TestOptOuts(t *testing.T) {
	c := config(t)
	f := func(namespace, pod, wantStatus string) { t.Helper(); notInjected(t, c, namespace, pod, wantStatus) }
	f("shop", strings.Replace(appPod, `sidecache.io/inject: "true"`, `sidecache.io/inject: "false"`, 1), "")
	f("shop", strings.Replace(appPod, `, sidecache.io/inject: "true"`, ``, 1), "")
	f("kube-system", appPod, "")
	f("sidecache-system", appPod, "") // the injector's own namespace
	f("monitoring", appPod, "")       // skipNamespaces
	f("shop", withAnnotations(`{sidecache.io/status: injected}`), "injected")
	f("shop", strings.Replace(appPod, "  - name: worker\n", "  - name: sidecache\n", 1), "")
	// Skipped with a reason, so the owner sees why (annotation and kubectl warning).
	f("shop", strings.Replace(appPod, "restartPolicy: Always", "restartPolicy: Never", 1), "skipped: restartPolicy Never")
	f("shop", strings.Replace(appPod, "spec:\n", "spec:\n  hostNetwork: true\n", 1), "skipped: hostNetwork")
	f("shop", strings.Replace(appPod, "spec:\n", "spec:\n  os: {name: windows}\n", 1), "skipped: the sidecar image is Linux only")
	f("shop", withAnnotations(`{sidecache.io/maxmemory: lots}`), "skipped: sidecache.io/maxmemory")
	f("shop", withAnnotations(`{sidecache.io/unixsocket: "yes please"}`), "skipped: sidecache.io/unixsocket")
	f("shop", withAnnotations(`{sidecache.io/maxmemory: "0"}`), "skipped: maxmemory")
	f("shop", strings.Replace(appPod, "containerPort: 8080", "containerPort: 6379", 1), "skipped: container web uses port 6379")
	f("shop", strings.Replace(appPod, "containerPort: 8080", "containerPort: 9121", 1), "skipped: container web uses port 9121")
	noTCP := config(t, func(c *injector.Config) { c.Port = 0; c.UnixSocket.Enabled = true })
	notInjected(t, noTCP, "shop", withAnnotations(`{sidecache.io/unixsocket: "false"}`), "skipped: sidecache.io/unixsocket")
	sockets := config(t, func(c *injector.Config) { c.UnixSocket.Enabled = true })
	notInjected(t, sockets, "shop", strings.Replace(appPod, "{name: cfg, configMap", "{name: sidecache-socket, configMap", 1), "skipped: the pod already has a volume")
	notInjected(t, sockets, "shop", strings.Replace(appPod, "mountPath: /etc/shop", "mountPath: /var/run/sidecache", 1), "skipped: container worker already mounts /var/run/sidecache")
	// Without a socket, neither matters; without TCP, port 6379 is free.
	injected(t, config(t), strings.Replace(appPod, "mountPath: /etc/shop", "mountPath: /var/run/sidecache", 1))
	noTCPSocket := config(t, func(c *injector.Config) { c.Port = 0; c.UnixSocket.Enabled = true })
	injected(t, noTCPSocket, strings.Replace(appPod, "containerPort: 8080", "containerPort: 6379", 1))
}

func TestJobGetsNativeSidecar(t *testing.T) {
	job := strings.Replace(appPod, "restartPolicy: Always", "restartPolicy: OnFailure", 1)
	pod := injected(t, config(t), strings.Replace(job, "  namespace: shop\n", "  namespace: shop\n  annotations: {sidecache.io/native-sidecar: \"true\"}\n", 1))
	if _, native := sidecar(t, pod); !native {
		t.Fatal("want native")
	}
}

func TestAlwaysAllowed(t *testing.T) {
	h := &injector.Handler{Config: config(t), Log: slog.New(slog.DiscardHandler)}
	// An object that is not a pod: allowed, unchanged, with a warning.
	body := bytes.Replace(review(t, "shop", "CREATE", appPod), []byte(`"containers":[`), []byte(`"containers":7,"x":[`), 1)
	if r := call(t, h, body); len(r.Patch) != 0 || len(r.Warnings) == 0 {
		t.Fatalf("undecodable pod: patch %s warnings %v", r.Patch, r.Warnings)
	}
	// Other operations and kinds are left alone.
	if r := call(t, h, review(t, "shop", "UPDATE", appPod)); len(r.Patch) != 0 {
		t.Fatal("UPDATE patched")
	}
	other := bytes.ReplaceAll(review(t, "shop", "CREATE", appPod), []byte(`"kind": "Pod"`), []byte(`"kind": "Deployment"`))
	if r := call(t, h, other); len(r.Patch) != 0 {
		t.Fatal("non-pod patched")
	}
	// Not an AdmissionReview: a client error (the API server then applies failurePolicy).
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, body := range []string{`{}`, `nope`} {
		res, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: status %d", body, res.StatusCode)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	f := func(from, to, wantErr string) {
		t.Helper()
		_, err := injector.ParseConfig([]byte(strings.Replace(baseConfig, from, to, 1)))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%q -> %q: error %v, want %q", from, to, err, wantErr)
		}
	}
	f("port: 6379", "prot: 6379", "unknown field")
	f("port: 6379", "Port: 6379", "unknown field") // field names are case sensitive
	f("port: 6379", "port: 0", "port 0 needs unixSocket")
	f("maxmemoryPolicy: allkeys-lfu", "maxmemoryPolicy: lfu", "not a Redis policy")
	f("limits: {memory: 128Mi}", "limits: {cpu: 1}", "maxmemory auto needs resources.limits.memory")
	f("maxmemoryClients: 16mb", "maxmemoryClients: \"0\"\nmaxmemory: 64mb", "already set")
	f("maxmemory: auto\nmaxmemoryClients: 16mb", "maxmemory: 64mb\nmaxmemoryClients: \"0\"", "maxmemory-clients 0")
}

// The API server defaults spec.securityContext to {}: the fsGroup goes into it.
func TestInjectIntoDefaultedSecurityContext(t *testing.T) {
	cfg := config(t, func(c *injector.Config) { c.UnixSocket.Enabled = true })
	pod := injected(t, cfg, strings.Replace(appPod, "spec:\n", "spec:\n  securityContext: {}\n", 1))
	if g := pod.Spec.SecurityContext.FSGroup; g == nil || *g != 65532 {
		t.Fatalf("fsGroup %v", g)
	}
}
