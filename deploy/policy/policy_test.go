package policy_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sidecache/sidecache/deploy/policy"
)

// goodPod passes every rule: a native sidecar with a socket and an explicit maxmemory.
const goodPod = `
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  securityContext: {fsGroup: 65532, runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  initContainers:
  - name: sidecache
    image: sidecache/sidecache:0.1.0
    restartPolicy: Always
    env:
    - {name: SIDECACHE_PORT, value: "6379"}
    - {name: SIDECACHE_BIND, value: 127.0.0.1}
    - {name: SIDECACHE_UNIXSOCKET, value: /var/run/sidecache/sidecache.sock}
    - {name: SIDECACHE_UNIXSOCKETPERM, value: "770"}
    - {name: SIDECACHE_MAXMEMORY, value: 256mb}
    - {name: SIDECACHE_MAXMEMORY_CLIENTS, value: 16mb}
    - {name: SIDECACHE_ADMIN_ADDR, value: "0.0.0.0:9121"}
    ports: [{name: sidecache-admin, containerPort: 9121}]
    resources: {limits: {memory: 330Mi}}
    securityContext:
      runAsUser: 65532
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
    startupProbe: {exec: {command: [/usr/local/bin/sidecache, ping]}}
    livenessProbe: {httpGet: {path: /health, port: 9121}}
    readinessProbe: {httpGet: {path: /ready, port: sidecache-admin}}
    volumeMounts: [{name: sock, mountPath: /var/run/sidecache}]
  containers:
  - name: app
    image: shop/web:1.4
    volumeMounts: [{name: sock, mountPath: /var/run/sidecache}]
  volumes: [{name: sock, emptyDir: {medium: Memory}}]
`

func TestPolicyRules(t *testing.T) {
	objs, err := policy.Decode("goodPod", []byte(goodPod))
	if err != nil {
		t.Fatal(err)
	}
	good := objs[0].Obj.(*corev1.Pod)
	if err := policy.CheckPod(&good.Spec, false); err != nil {
		t.Fatalf("the good pod fails: %v", err)
	}
	sc := func(s *corev1.PodSpec) *corev1.Container { return &s.InitContainers[0] }
	setEnv := func(s *corev1.PodSpec, name, value string) {
		for i, e := range sc(s).Env {
			if e.Name == name {
				sc(s).Env[i].Value = value
				return
			}
		}
		sc(s).Env = append(sc(s).Env, corev1.EnvVar{Name: name, Value: value})
	}
	f := func(wantErr string, edit func(s *corev1.PodSpec)) {
		t.Helper()
		s := good.Spec.DeepCopy()
		edit(s)
		err := policy.CheckPod(s, false)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want %q", err, wantErr)
		}
	}
	f("want first", func(s *corev1.PodSpec) {
		s.InitContainers = append([]corev1.Container{{Name: "migrate"}}, s.InitContainers...)
	})
	f("restartPolicy Always", func(s *corev1.PodSpec) { sc(s).RestartPolicy = nil })
	f("startup probe", func(s *corev1.PodSpec) { sc(s).StartupProbe = nil })
	f("runAsNonRoot", func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = nil })
	f("runAsUser 0", func(s *corev1.PodSpec) { sc(s).SecurityContext.RunAsUser = new(int64) })
	f("readOnlyRootFilesystem", func(s *corev1.PodSpec) { sc(s).SecurityContext.ReadOnlyRootFilesystem = nil })
	f("allowPrivilegeEscalation", func(s *corev1.PodSpec) { sc(s).SecurityContext.AllowPrivilegeEscalation = nil })
	f("drop ALL", func(s *corev1.PodSpec) { sc(s).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"} })
	f("RuntimeDefault", func(s *corev1.PodSpec) { s.SecurityContext.SeccompProfile = nil })
	// 1.1 x 256 MiB + 16 MiB + 32 MiB = 329.6 MiB.
	f("memory limit 329Mi < 1.1 x maxmemory", func(s *corev1.PodSpec) {
		sc(s).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("329Mi")
	})
	f("maxmemory-clients unset or 0", func(s *corev1.PodSpec) { setEnv(s, "SIDECACHE_MAXMEMORY_CLIENTS", "0") })
	f("explicit and non-zero", func(s *corev1.PodSpec) { setEnv(s, "SIDECACHE_MAXMEMORY", "0") })
	f("auto without a memory limit", func(s *corev1.PodSpec) {
		setEnv(s, "SIDECACHE_MAXMEMORY", "auto")
		sc(s).Resources.Limits = nil
	})
	f("no shell", func(s *corev1.PodSpec) {
		sc(s).StartupProbe.Exec.Command = []string{"sh", "-c", "sidecache ping"}
	})
	f("want /health or /ready", func(s *corev1.PodSpec) { sc(s).LivenessProbe.HTTPGet.Path = "/metrics" })
	f("admin address is on 9121", func(s *corev1.PodSpec) { sc(s).ReadinessProbe.HTTPGet.Port.StrVal = "http" })
	f("kubelet probes cannot reach it", func(s *corev1.PodSpec) { setEnv(s, "SIDECACHE_ADMIN_ADDR", "127.0.0.1:9121") })
	f("loopback only", func(s *corev1.PodSpec) { setEnv(s, "SIDECACHE_BIND", "0.0.0.0") })
	f("SIDECACHE_PORT not set", func(s *corev1.PodSpec) { sc(s).Env = sc(s).Env[1:] })
	f("does not mount the socket volume", func(s *corev1.PodSpec) { s.Containers[0].VolumeMounts = nil })
	f("not an emptyDir", func(s *corev1.PodSpec) {
		s.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}
	})
	f("without a pod fsGroup", func(s *corev1.PodSpec) { s.SecurityContext.FSGroup = nil })
	f("group needs read and write", func(s *corev1.PodSpec) { setEnv(s, "SIDECACHE_UNIXSOCKETPERM", "700") })
	f("others get no access", func(s *corev1.PodSpec) { setEnv(s, "SIDECACHE_UNIXSOCKETPERM", "777") })
	f("must come from a Secret", func(s *corev1.PodSpec) { setEnv(s, "SIDECACHE_REQUIREPASS", "hunter2") })
	f("no sidecache container", func(s *corev1.PodSpec) { s.InitContainers = nil })

	// A node-local cache: reached from other pods, so a password from a Secret.
	s := good.Spec.DeepCopy()
	setEnv(s, "SIDECACHE_BIND", "0.0.0.0")
	if err := policy.CheckPod(s, true); err == nil || !strings.Contains(err.Error(), "needs requirepass from a Secret") {
		t.Fatalf("node-local without a password: %v", err)
	}
}

func TestStrictDecode(t *testing.T) {
	f := func(doc, wantErr string) {
		t.Helper()
		_, err := policy.Decode("doc", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want %q", err, wantErr)
		}
	}
	f("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, imagee: x}]}\n", `unknown field "spec.containers[0].imagee"`)
	f("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {Containers: []}\n", `unknown field "spec.Containers"`)
	f("apiVersion: v1\nkind: Pod\nmetadata: {name: a, name: b}\n", `already set`)
	f("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: 3}\n", "cannot unmarshal")
	f("apiVersion: v2\nkind: Pod\n", `unexpected kind "v2/Pod"`)
	f("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\nstringdata: {}\n", `unknown field "stringdata"`)
	objs, err := policy.Decode("doc", []byte("# only a comment\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"))
	if err != nil || len(objs) != 1 || objs[0].Name != "a" {
		t.Fatalf("%v %v", objs, err)
	}
}
