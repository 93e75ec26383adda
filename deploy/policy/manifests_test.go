package policy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sidecache/sidecache/deploy/injector"
	"github.com/sidecache/sidecache/deploy/policy"
)

const manifestsDir = "../manifests"

// manifestSets maps each directory of deploy/manifests to the chart values it is rendered
// from (deploy/chart/ci) and what it must contain.
var manifestSets = map[string]struct {
	values string
	check  func(t *testing.T, objs []policy.Object)
}{
	"sidecar-tcp":         {"sidecar-tcp-values.yaml", func(t *testing.T, objs []policy.Object) { appPod(t, objs, false, false) }},
	"sidecar-unix-socket": {"sidecar-unix-socket-values.yaml", func(t *testing.T, objs []policy.Object) { appPod(t, objs, false, true) }},
	"native-sidecar":      {"native-sidecar-values.yaml", func(t *testing.T, objs []policy.Object) { appPod(t, objs, true, true) }},
	"daemonset": {"daemonset-values.yaml", func(t *testing.T, objs []policy.Object) {
		if len(of[*appsv1.DaemonSet](objs)) != 1 || len(of[*corev1.Service](objs)) != 1 {
			t.Fatal("want a DaemonSet and its Service")
		}
	}},
	"injector": {"injector-values.yaml", func(t *testing.T, objs []policy.Object) {
		if len(of[*admissionregistrationv1.MutatingWebhookConfiguration](objs)) != 1 {
			t.Fatal("no webhook")
		}
		injectorConfig(t, objs)
	}},
}

// of returns the objects of one type.
func of[T any](objs []policy.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// appPod checks the app Deployment of sidecar mode: where the sidecar is, and how the app
// reaches it.
func appPod(t *testing.T, objs []policy.Object, native, socket bool) {
	t.Helper()
	ds := of[*appsv1.Deployment](objs)
	if len(ds) != 1 {
		t.Fatalf("want one Deployment, have %d", len(ds))
	}
	spec := ds[0].Spec.Template.Spec
	inInit := slices.ContainsFunc(spec.InitContainers, func(c corev1.Container) bool { return c.Name == policy.SidecarName })
	if inInit != native {
		t.Fatalf("native sidecar %v, want %v", inInit, native)
	}
	app := spec.Containers[0]
	url := ""
	for _, e := range app.Env {
		if e.Name == "REDIS_URL" {
			url = e.Value
		}
	}
	if socket != strings.HasPrefix(url, "unix://") || url == "" {
		t.Fatalf("app REDIS_URL %q, socket %v", url, socket)
	}
}

// injectorConfig checks that the ConfigMap's config.yaml is one the injector accepts.
func injectorConfig(t *testing.T, objs []policy.Object) *injector.Config {
	t.Helper()
	for _, cm := range of[*corev1.ConfigMap](objs) {
		if data, ok := cm.Data["config.yaml"]; ok {
			c, err := injector.ParseConfig([]byte(data))
			if err != nil {
				t.Fatalf("injector config: %v\n%s", err, data)
			}
			return c
		}
	}
	t.Fatal("no injector ConfigMap with config.yaml")
	return nil
}

// TestManifests decodes every file of deploy/manifests strictly and holds it to the policy.
// Each directory is a kustomize base listing exactly its YAML files.
func TestManifests(t *testing.T) {
	dirs, err := os.ReadDir(manifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, d := range dirs {
		if !d.IsDir() {
			t.Errorf("%s: only directories (kustomize bases) belong in deploy/manifests", d.Name())
			continue
		}
		set, ok := manifestSets[d.Name()]
		if !ok {
			t.Errorf("%s: not rendered from the chart (add it to manifestSets)", d.Name())
			continue
		}
		seen++
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join(manifestsDir, d.Name())
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			var kust *policy.Kustomization
			var objs []policy.Object
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				got, err := policy.Decode(f, b)
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Base(f) == "kustomization.yaml" {
					if len(got) != 1 {
						t.Fatal("kustomization.yaml: want one document")
					}
					kust = got[0].Obj.(*policy.Kustomization)
					continue
				}
				objs = append(objs, got...)
			}
			if kust == nil {
				t.Fatal("no kustomization.yaml")
			}
			var listed []string
			for _, f := range files {
				if b := filepath.Base(f); b != "kustomization.yaml" {
					listed = append(listed, b)
				}
			}
			if !slices.Equal(slices.Sorted(slices.Values(kust.Resources)), listed) {
				t.Fatalf("kustomization resources %v, files %v", kust.Resources, listed)
			}
			if err := policy.Check(objs); err != nil {
				t.Fatal(err)
			}
			set.check(t, objs)
		})
	}
	if seen != len(manifestSets) {
		t.Errorf("deploy/manifests has %d of the %d rendered sets", seen, len(manifestSets))
	}
}
