//go:build e2e

// Package e2e runs the chart, the plain manifests and the injector against a real control
// plane: etcd and kube-apiserver on loopback, built from source by `make e2e-k8s` (the
// module in controlplane/). There is no kubelet, scheduler or kube-proxy: pods are stored,
// never run, which is all admission needs.
//
//	make e2e-k8s
//	# or, with the binaries built: cd deploy && SIDECACHE_E2E_BIN=../bin SIDECACHE_HELM=../bin/helm \
//	#     go test -tags e2e -count=1 -v ./e2e/
package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sidecache/sidecache/deploy/injector"
	"github.com/sidecache/sidecache/deploy/policy"
)

const (
	releaseNamespace = "sidecache-system" // where the chart's injector lives, never injected
	appNamespace     = "shop"             // labelled for injection
	chartDir         = "../chart"
	manifestsDir     = "../manifests"
)

func TestKubernetes(t *testing.T) {
	binDir, helm := os.Getenv("SIDECACHE_E2E_BIN"), os.Getenv("SIDECACHE_HELM")
	if binDir == "" || helm == "" {
		t.Skip("SIDECACHE_E2E_BIN and SIDECACHE_HELM are not set: run `make e2e-k8s`")
	}
	c := startCluster(t, binDir)
	kubeVersion := serverVersion(t, c)
	t.Logf("control plane ready, Kubernetes %s", kubeVersion)

	// The stand-in CRDs first, so that every later kubectl discovers their kinds.
	c.must(t, nil, "apply", "-f", "testdata/crds.yaml")
	c.must(t, nil, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	for _, ns := range []string{releaseNamespace, appNamespace} {
		c.must(t, nil, "create", "namespace", ns)
	}

	// The dry runs below prove something only if the server refuses an unknown field.
	t.Run("strict validation refuses unknown fields", func(t *testing.T) {
		bad := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{},"bogusField":1}`)
		_, errOut, err := c.run(bad, "apply", "-n", releaseNamespace, "--dry-run=server", "--validate=strict", "-f", "-")
		if err == nil || !strings.Contains(errOut, "bogusField") {
			t.Fatalf("unknown field accepted: %v %s", err, errOut)
		}
		t.Logf("refused as expected: %s", errOut)
	})

	t.Run("chart", func(t *testing.T) {
		values, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
		if err != nil || len(values) == 0 {
			t.Fatalf("no value sets in %s/ci: %v", chartDir, err)
		}
		for _, v := range values {
			rendered := helmTemplate(t, helm, kubeVersion, "-f", v)
			out, errOut, err := c.run(rendered, "apply", "-n", releaseNamespace, "--dry-run=server", "--validate=strict", "-f", "-")
			if err != nil {
				t.Errorf("%s: %v\n%s", filepath.Base(v), err, errOut)
				continue
			}
			t.Logf("%s: %d objects accepted", filepath.Base(v), strings.Count(out, "(server dry run)"))
		}
	})

	t.Run("manifests", func(t *testing.T) {
		dirs, err := os.ReadDir(manifestsDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			dir := filepath.Join(manifestsDir, d.Name())
			if _, errOut, err := c.run(nil, "apply", "--dry-run=server", "--validate=strict", "-k", dir); err != nil {
				t.Errorf("-k %s: %v\n%s", dir, err, errOut)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			for _, f := range files {
				if filepath.Base(f) == "kustomization.yaml" {
					continue // not an API object; applied above through -k
				}
				out, errOut, err := c.run(nil, "apply", "--dry-run=server", "--validate=strict", "-f", f)
				if err != nil {
					t.Errorf("-f %s: %v\n%s", f, err, errOut)
					continue
				}
				t.Logf("%s: %d objects accepted", f, strings.Count(out, "(server dry run)"))
			}
		}
	})

	t.Run("injector", func(t *testing.T) { testInjector(t, c, helm, kubeVersion) })
}

// serverVersion is major.minor of the running API server, for helm's --kube-version.
func serverVersion(t *testing.T, c *cluster) string {
	t.Helper()
	var v struct {
		ServerVersion struct{ Major, Minor string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(c.must(t, nil, "version", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	major, minor := v.ServerVersion.Major, strings.TrimSuffix(v.ServerVersion.Minor, "+")
	if _, err := strconv.Atoi(major); err != nil || minor == "" {
		t.Fatalf("server version %+v: build kube-apiserver with the version ldflags (make e2e-k8s)", v.ServerVersion)
	}
	return major + "." + minor
}

func helmTemplate(t *testing.T, helm, kubeVersion string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helm, append([]string{"template", "sidecache", chartDir,
		"--namespace", releaseNamespace, "--kube-version", kubeVersion}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr)
	}
	return out
}

func testInjector(t *testing.T, c *cluster, helm, kubeVersion string) {
	dir := t.TempDir()

	// The injector's configuration and webhook as the chart renders them by default.
	objs, err := policy.Decode("chart defaults", helmTemplate(t, helm, kubeVersion))
	if err != nil {
		t.Fatal(err)
	}
	var webhook *admissionregistrationv1.MutatingWebhookConfiguration
	var config string
	for _, o := range objs {
		switch obj := o.Obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			webhook = obj
		case *corev1.ConfigMap:
			config = obj.Data["config.yaml"]
		}
	}
	if webhook == nil || len(webhook.Webhooks) != 1 || config == "" {
		t.Fatalf("chart defaults: want one webhook and the injector's config.yaml, got %d objects", len(objs))
	}
	cfg, err := injector.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.NativeSidecar {
		t.Fatalf("chart default for Kubernetes %s: nativeSidecar false, want true (auto)", kubeVersion)
	}
	configPath := filepath.Join(dir, "config.yaml")
	writeFile(t, configPath, []byte(config))

	bin := filepath.Join(dir, "sidecache-injector")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/sidecache-injector")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the injector: %v\n%s", err, out)
	}
	webhookCA := newCA(t, "e2e-injector-ca")
	crt, key := webhookCA.issue(t, dir, "injector")
	port := strconv.Itoa(freePort(t))
	inj := start(t, dir, "sidecache-injector", bin, "--addr", "127.0.0.1:"+port,
		"--config", configPath, "--tls-cert", crt, "--tls-key", key,
		"--namespace", releaseNamespace, "--shutdown-timeout", "2s")
	injClient := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: webhookCA.pool()}}}
	waitHTTP(t, inj, injClient, "https://127.0.0.1:"+port+"/healthz", "", 30*time.Second)

	// By URL: without kube-proxy a Service reference routes nowhere. Everything else (rules,
	// selectors, failurePolicy, timeouts) is the chart's.
	wh := &webhook.Webhooks[0]
	if wh.FailurePolicy == nil || *wh.FailurePolicy != admissionregistrationv1.Ignore {
		t.Fatalf("chart default failurePolicy %v, want Ignore", wh.FailurePolicy)
	}
	url := "https://127.0.0.1:" + port + "/mutate"
	wh.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: webhookCA.pem}
	js, err := json.Marshal(webhook)
	if err != nil {
		t.Fatal(err)
	}
	c.must(t, js, "create", "-f", "-")
	c.must(t, nil, "label", "namespace", appNamespace, injector.NamespaceLabel+"=enabled")
	// No controller-manager creates the default ServiceAccount the ServiceAccount admission
	// plugin looks up.
	c.must(t, nil, "create", "serviceaccount", "default", "-n", appNamespace)

	labels := map[string]string{injector.InjectLabel: "true"}
	// The API server picks up a new webhook configuration asynchronously.
	eventually(t, "the webhook to take effect", func() (bool, string) {
		pod, msg := createPod(c, newPod("probe", labels, nil), "--dry-run=server")
		return pod != nil && pod.Annotations[injector.AnnotationStatus] == "injected", msg
	})

	t.Run("native sidecar over TCP", func(t *testing.T) {
		mustCreatePod(t, c, newPod("web", labels, nil))
		pod := getPod(t, c, "web")
		if got := pod.Annotations[injector.AnnotationStatus]; got != "injected" {
			t.Fatalf("annotation %s = %q, want injected", injector.AnnotationStatus, got)
		}
		if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != injector.ContainerName {
			t.Fatalf("init containers %v: want %s first", names(pod.Spec.InitContainers), injector.ContainerName)
		}
		side := pod.Spec.InitContainers[0]
		if side.RestartPolicy == nil || *side.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Fatalf("sidecar restartPolicy %v, want Always", side.RestartPolicy)
		}
		if side.StartupProbe == nil {
			t.Fatal("native sidecar without a startup probe")
		}
		if slices.Contains(names(pod.Spec.Containers), injector.ContainerName) {
			t.Fatalf("containers %v: the native sidecar is also a regular container", names(pod.Spec.Containers))
		}
		if got := env(pod.Spec.Containers[0], injector.EnvRedisURL); got != "redis://127.0.0.1:6379" {
			t.Fatalf("app %s = %q", injector.EnvRedisURL, got)
		}
		checkPolicy(t, pod)
	})

	t.Run("legacy sidecar over a Unix socket", func(t *testing.T) {
		mustCreatePod(t, c, newPod("web-socket", labels, map[string]string{
			injector.AnnotationUnixSocket: "true", injector.AnnotationNativeSidecar: "false"}))
		pod := getPod(t, c, "web-socket")
		if got := pod.Annotations[injector.AnnotationStatus]; got != "injected" {
			t.Fatalf("annotation %s = %q, want injected", injector.AnnotationStatus, got)
		}
		if slices.Contains(names(pod.Spec.InitContainers), injector.ContainerName) ||
			!slices.Contains(names(pod.Spec.Containers), injector.ContainerName) {
			t.Fatalf("init %v containers %v: want %s among the containers only",
				names(pod.Spec.InitContainers), names(pod.Spec.Containers), injector.ContainerName)
		}
		i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == injector.VolumeName })
		if i < 0 || pod.Spec.Volumes[i].EmptyDir == nil || pod.Spec.Volumes[i].EmptyDir.Medium != corev1.StorageMediumMemory {
			t.Fatalf("volumes %+v: want %s, a memory-backed emptyDir", pod.Spec.Volumes, injector.VolumeName)
		}
		for _, ctr := range pod.Spec.Containers {
			if !slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == injector.VolumeName }) {
				t.Fatalf("container %s does not mount %s", ctr.Name, injector.VolumeName)
			}
		}
		if got, want := env(pod.Spec.Containers[0], injector.EnvRedisURL), "unix://"+cfg.UnixSocket.Path(); got != want {
			t.Fatalf("app %s = %q, want %q", injector.EnvRedisURL, got, want)
		}
		if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.FSGroup == nil || *pod.Spec.SecurityContext.FSGroup != cfg.FSGroup {
			t.Fatalf("pod securityContext %+v: want fsGroup %d", pod.Spec.SecurityContext, cfg.FSGroup)
		}
		checkPolicy(t, pod)
	})

	t.Run("unlabelled pod left alone", func(t *testing.T) {
		mustCreatePod(t, c, newPod("plain", nil, nil))
		assertUntouched(t, getPod(t, c, "plain"))
	})

	t.Run("failurePolicy", func(t *testing.T) {
		inj.stop(t)

		// Ignore (the chart's default): the pod starts without a cache.
		mustCreatePod(t, c, newPod("web-ignored", labels, nil))
		assertUntouched(t, getPod(t, c, "web-ignored"))

		c.must(t, nil, "patch", "mutatingwebhookconfiguration", webhook.Name, "--type=json",
			"-p", `[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Fail"}]`)
		var refusal string
		eventually(t, "failurePolicy Fail to take effect", func() (bool, string) {
			pod, msg := createPod(c, newPod("web-refused", labels, nil))
			refusal = msg
			return pod == nil && strings.Contains(msg, "failed calling webhook"), msg
		})
		t.Logf("with failurePolicy Fail and the injector stopped: %s", refusal)
		if _, errOut, err := c.run(nil, "get", "pod", "web-refused", "-n", appNamespace); err == nil || !strings.Contains(errOut, "NotFound") {
			t.Fatalf("pod web-refused exists after a refused create: %v %s", err, errOut)
		}
	})
}

func newPod(name string, labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNamespace,
			Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "shop/web:1.4",
			SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(1000))},
		}}},
	}
}

// createPod creates pod (with extra kubectl flags such as --dry-run=server) and returns the
// stored object, or nil and kubectl's error text.
func createPod(c *cluster, pod *corev1.Pod, flags ...string) (*corev1.Pod, string) {
	js, _ := json.Marshal(pod)
	out, errOut, err := c.run(js, append([]string{"create", "-f", "-", "-o", "json"}, flags...)...)
	if err != nil {
		return nil, errOut
	}
	var got corev1.Pod
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		return nil, err.Error()
	}
	return &got, ""
}

func mustCreatePod(t *testing.T, c *cluster, pod *corev1.Pod) {
	t.Helper()
	if got, msg := createPod(c, pod); got == nil {
		t.Fatalf("creating pod %s: %s", pod.Name, msg)
	}
}

// getPod reads a pod back from the API server (what etcd stored, not the create reply).
func getPod(t *testing.T, c *cluster, name string) *corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	if err := json.Unmarshal([]byte(c.must(t, nil, "get", "pod", name, "-n", appNamespace, "-o", "json")), &pod); err != nil {
		t.Fatal(err)
	}
	return &pod
}

func assertUntouched(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if _, ok := pod.Annotations[injector.AnnotationStatus]; ok ||
		slices.Contains(names(pod.Spec.InitContainers), injector.ContainerName) ||
		slices.Contains(names(pod.Spec.Containers), injector.ContainerName) ||
		slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == injector.VolumeName }) ||
		env(pod.Spec.Containers[0], injector.EnvRedisURL) != "" {
		t.Fatalf("pod %s was changed: annotations %v init %v containers %v",
			pod.Name, pod.Annotations, names(pod.Spec.InitContainers), names(pod.Spec.Containers))
	}
}

// checkPolicy holds the stored pod to the rules of every chart rendering.
func checkPolicy(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if err := policy.CheckPod(&pod.Spec, false); err != nil {
		t.Fatalf("stored pod %s: %v", pod.Name, err)
	}
}

// eventually retries cond every 500ms for up to a minute.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("waited a minute for %s; last: %s", what, last)
}

func names(ctrs []corev1.Container) []string {
	out := make([]string, len(ctrs))
	for i, c := range ctrs {
		out[i] = c.Name
	}
	return out
}

func env(ctr corev1.Container, name string) string {
	for _, e := range ctr.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
