package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/sidecache/sidecache/deploy/injector"
	"github.com/sidecache/sidecache/deploy/policy"
)

// The chart tests run helm, which CI builds from its Go module (make deploy-check); without
// SIDECACHE_HELM they skip, and `make test` still checks the rendered deploy/manifests.
var (
	helmBin = os.Getenv("SIDECACHE_HELM")
	update  = flag.Bool("update", false, "rewrite deploy/manifests from the chart (needs SIDECACHE_HELM)")
)

const (
	chartDir = "../chart"
	// manifestsKube is the cluster version the plain manifests are rendered for; their
	// values set nativeSidecar explicitly, so it only fills .Capabilities.
	manifestsKube = "1.33.0"
)

// kubeVersions span the chart's kubeVersion range and both sides of native sidecars (1.29).
var kubeVersions = []string{"1.26.0", "1.28.15", "1.29.0", "1.33.0", "1.37.0"}

func needHelm(t *testing.T) {
	t.Helper()
	if helmBin == "" {
		t.Skip("SIDECACHE_HELM is not set: `make deploy-check` builds helm and runs the chart tests")
	}
}

// helm runs the helm binary with its caches in a temporary directory.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home,
		"KUBECONFIG="+filepath.Join(home, "none"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

func render(t *testing.T, kube string, args ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", "sidecache", chartDir, "--namespace", "sidecache-system",
		"--kube-version", kube}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func valueSets(t *testing.T) []string {
	sets, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(sets) == 0 {
		t.Fatalf("no value sets in %s/ci: %v", chartDir, err)
	}
	return append([]string{""}, sets...) // "": the chart's defaults
}

func TestChartLint(t *testing.T) {
	needHelm(t)
	for _, vs := range valueSets(t) {
		args := []string{"lint", "--strict", chartDir}
		if vs != "" {
			args = append(args, "--values", vs)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("%s:\n%v", vs, err)
		} else if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("%s: %s", vs, out)
		}
	}
}

// TestChartRender renders every value set for every cluster version, decodes each document
// strictly and holds the whole to the policy.
func TestChartRender(t *testing.T) {
	needHelm(t)
	for _, vs := range valueSets(t) {
		values := map[string]any{"mode": "injector", "nativeSidecar": "auto"}
		if vs != "" {
			b, err := os.ReadFile(vs)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(b, &values); err != nil {
				t.Fatal(err)
			}
		}
		for _, kube := range kubeVersions {
			name := strings.TrimSuffix(filepath.Base(vs), "-values.yaml") + "@" + kube
			if vs == "" {
				name = "defaults@" + kube
			}
			t.Run(name, func(t *testing.T) {
				var args []string
				if vs != "" {
					args = []string{"--values", vs}
				}
				objs, err := policy.Decode(name, []byte(render(t, kube, args...)))
				if err != nil {
					t.Fatal(err)
				}
				if err := policy.Check(objs); err != nil {
					t.Fatal(err)
				}
				native := values["nativeSidecar"] == true || (values["nativeSidecar"] == "auto" && kube >= "1.29")
				switch values["mode"] {
				case "injector":
					c := injectorConfig(t, objs)
					if c.NativeSidecar != native {
						t.Fatalf("injector nativeSidecar %v, want %v", c.NativeSidecar, native)
					}
					injectedPodPasses(t, c)
					if len(of[*admissionregistrationv1.MutatingWebhookConfiguration](objs)) != 1 {
						t.Fatal("no webhook")
					}
				case "sidecar":
					appPod(t, objs, native, values["unixSocket"] != nil)
				case "daemonset":
					if len(of[*appsv1.DaemonSet](objs)) != 1 {
						t.Fatal("no DaemonSet")
					}
				}
			})
		}
	}
}

// TestChartRejects: bad values fail in the schema (or, for relations the schema cannot
// express, in the templates), never render.
func TestChartRejects(t *testing.T) {
	needHelm(t)
	f := func(wantErr string, set ...string) {
		t.Helper()
		args := []string{"template", "sidecache", chartDir, "--kube-version", "1.33.0"}
		for _, s := range set {
			if strings.HasPrefix(s, "--") {
				args = append(args, s) // --set-string=...
				continue
			}
			args = append(args, "--set", s)
		}
		_, err := helm(t, args...)
		if err == nil || !regexp.MustCompile(wantErr).MatchString(err.Error()) {
			t.Errorf("--set %v: error %v, want %q", set, err, wantErr)
		}
	}
	schema := func(field string) string { return `(?is)schema.*` + regexp.QuoteMeta(field) }
	f(schema("mode"), "mode=central")
	f(schema("typo"), "typo=1")
	f(schema("prot"), "image.prot=1")
	f(schema("port"), "port=70000")
	f(schema("replicas"), "injector.replicas=1")
	f(schema("maxmemory"), "maxmemory=lots")
	f(schema("maxmemoryPolicy"), "maxmemoryPolicy=lru")
	f(schema("perm"), "unixSocket.perm=777")
	f(schema("failurePolicy"), "injector.failurePolicy=Maybe")
	f(schema("timeoutSeconds"), "injector.timeoutSeconds=60")
	f(schema("nativeSidecar"), "nativeSidecar=maybe")
	f(schema("runAsUser"), "securityContext.runAsUser=0")
	f(schema("memory"), "resources.limits.memory=lots")
	f(schema("mode"), "injector.certs.mode=none")
	f(schema("delay"), "shutdown.delay=soon")
	f("set resources.limits.memory", "maxmemory=auto", "resources.limits.memory=null")
	f("port must not be 0", "mode=daemonset", "port=0")
	f("nothing to connect to", "port=0")
	f("auth is for daemonset and sidecar", "auth.enabled=true")
	f(schema("maxmemoryClients"), "maxmemoryClients=0") // a number: sizes are strings
	f("kubeVersion", "--kube-version=1.25.0")           // below Chart.yaml's kubeVersion
	f("maxmemoryClients 0", "--set-string=maxmemory=64mb,maxmemoryClients=0")
}

// manifestHeader starts every rendered file of deploy/manifests.
const manifestHeader = "# Rendered from deploy/chart with deploy/chart/ci/%s by `make deploy-manifests`\n" +
	"# (SIDECACHE_HELM=... go test ./policy -run TestChartManifests -update). Do not edit.\n"

// TestChartManifests: deploy/manifests is what the chart renders (-update rewrites it).
// Helm's bookkeeping labels are left out: plain manifests are not a Helm release.
func TestChartManifests(t *testing.T) {
	needHelm(t)
	helmLabels := regexp.MustCompile(`(?m)^\s*(helm\.sh/chart|app\.kubernetes\.io/managed-by): .*\n`)
	for dir, set := range manifestSets {
		out := render(t, manifestsKube, "--values", filepath.Join(chartDir, "ci", set.values))
		want := fmt.Sprintf(manifestHeader, set.values) + helmLabels.ReplaceAllString(out, "")
		path := filepath.Join(manifestsDir, dir, "sidecache.yaml")
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is not what the chart renders (err %v): run `make deploy-manifests`", path, err)
		}
	}
}

// TestInjectorMatchesChart: the injector, configured by the chart, adds the same sidecar
// container the chart renders in sidecar mode for the same values.
func TestInjectorMatchesChart(t *testing.T) {
	needHelm(t)
	for _, set := range []string{"sidecar-tcp-values.yaml", "sidecar-unix-socket-values.yaml", "native-sidecar-values.yaml"} {
		t.Run(set, func(t *testing.T) {
			values := filepath.Join(chartDir, "ci", set)
			chartObjs, err := policy.Decode(set, []byte(render(t, "1.33.0", "--values", values)))
			if err != nil {
				t.Fatal(err)
			}
			injObjs, err := policy.Decode(set, []byte(render(t, "1.33.0", "--values", values, "--set", "mode=injector")))
			if err != nil {
				t.Fatal(err)
			}
			cfg := injectorConfig(t, injObjs)
			want := of[*appsv1.Deployment](chartObjs)[0].Spec.Template.Spec

			// The app pod as its owner would write it: no sidecar, no socket, no REDIS_URL.
			pod := &corev1.Pod{Spec: *want.DeepCopy()}
			pod.Labels = map[string]string{injector.InjectLabel: "true"}
			pod.Spec.InitContainers = slices.DeleteFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == policy.SidecarName })
			pod.Spec.Containers = slices.DeleteFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == policy.SidecarName })
			pod.Spec.Volumes = nil
			for i := range pod.Spec.Containers {
				pod.Spec.Containers[i].VolumeMounts = nil
				pod.Spec.Containers[i].Env = slices.DeleteFunc(pod.Spec.Containers[i].Env, func(e corev1.EnvVar) bool { return e.Name == injector.EnvRedisURL })
			}
			d := cfg.Mutate(pod, "shop", "sidecache-system")
			if d.Status != "injected" {
				t.Fatalf("not injected: %v", d)
			}
			var added *corev1.Container
			for _, op := range d.Patch {
				switch v := op.Value.(type) {
				case corev1.Container:
					added = &v
				case []corev1.Container:
					added = &v[0]
				}
			}
			chartSidecar := findSidecar(&want)
			if added == nil || !equality.Semantic.DeepEqual(added, chartSidecar) {
				a, _ := yaml.Marshal(added)
				b, _ := yaml.Marshal(chartSidecar)
				t.Fatalf("injected sidecar:\n%s\nchart's sidecar:\n%s", a, b)
			}
		})
	}
}

// injectedPodPasses runs a plain pod through the injector configured by the chart and holds
// the patched pod to the policy.
func injectedPodPasses(t *testing.T, c *injector.Config) {
	t.Helper()
	podJSON := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"sidecache.io/inject":"true"}},
		"spec":{"containers":[{"name":"web","image":"shop/web:1.4"}]}}`)
	var pod corev1.Pod
	if err := policy.StrictUnmarshalJSON(podJSON, &pod); err != nil {
		t.Fatal(err)
	}
	d := c.Mutate(&pod, "shop", "sidecache-system")
	ops, err := json.Marshal(d.Patch)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	if podJSON, err = p.Apply(podJSON); err != nil {
		t.Fatal(err)
	}
	var injected corev1.Pod
	if err := policy.StrictUnmarshalJSON(podJSON, &injected); err != nil {
		t.Fatal(err)
	}
	if d.Status != "injected" {
		t.Fatalf("status %q", d.Status)
	}
	if err := policy.CheckPod(&injected.Spec, false); err != nil {
		t.Fatalf("injected pod: %v", err)
	}
}

func findSidecar(spec *corev1.PodSpec) *corev1.Container {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == policy.SidecarName {
				return &list[i]
			}
		}
	}
	return nil
}
