package policy_test

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sidecache/sidecache/deploy/policy"
)

const goodWebhook = `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: sidecache-injector}
webhooks:
- name: inject.sidecache.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  timeoutSeconds: 5
  clientConfig: {service: {name: sidecache-injector, namespace: sidecache-system, path: /mutate}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  namespaceSelector:
    matchLabels: {sidecache.io/injection: enabled}
    matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, sidecache-system]}]
  objectSelector:
    matchLabels: {sidecache.io/inject: "true"}
`

func TestWebhookRules(t *testing.T) {
	objs, err := policy.Decode("goodWebhook", []byte(goodWebhook))
	if err != nil {
		t.Fatal(err)
	}
	good := objs[0].Obj.(*admissionregistrationv1.MutatingWebhookConfiguration)
	if err := policy.CheckWebhook(good); err != nil {
		t.Fatalf("the good webhook fails: %v", err)
	}
	f := func(wantErr string, edit func(w *admissionregistrationv1.MutatingWebhook)) {
		t.Helper()
		m := good.DeepCopy()
		edit(&m.Webhooks[0])
		err := policy.CheckWebhook(m)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want %q", err, wantErr)
		}
	}
	some := admissionregistrationv1.SideEffectClassSome
	f("sideEffects is not None", func(w *admissionregistrationv1.MutatingWebhook) { w.SideEffects = &some })
	f("want [v1]", func(w *admissionregistrationv1.MutatingWebhook) {
		w.AdmissionReviewVersions = []string{"v1", "v1beta1"}
	})
	f("no failurePolicy", func(w *admissionregistrationv1.MutatingWebhook) { w.FailurePolicy = nil })
	f("timeoutSeconds", func(w *admissionregistrationv1.MutatingWebhook) { w.TimeoutSeconds = nil })
	f("CREATE only", func(w *admissionregistrationv1.MutatingWebhook) {
		w.Rules[0].Operations = append(w.Rules[0].Operations, admissionregistrationv1.Update)
	})
	f("admits kube-system", func(w *admissionregistrationv1.MutatingWebhook) { w.NamespaceSelector.MatchExpressions = nil })
	f("without sidecache.io/injection", func(w *admissionregistrationv1.MutatingWebhook) { w.NamespaceSelector.MatchLabels = nil })
	f("objectSelector", func(w *admissionregistrationv1.MutatingWebhook) { w.ObjectSelector = &metav1.LabelSelector{} })
	f("admits no pod", func(w *admissionregistrationv1.MutatingWebhook) {
		w.ObjectSelector.MatchExpressions = []metav1.LabelSelectorRequirement{
			{Key: "sidecache.io/inject", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"}}}
	})
	f("/mutate", func(w *admissionregistrationv1.MutatingWebhook) { w.ClientConfig.Service.Path = nil })
}

func TestWorkloadRules(t *testing.T) {
	pod, err := policy.Decode("goodPod", []byte(goodPod))
	if err != nil {
		t.Fatal(err)
	}
	spec := pod[0].Obj.(*corev1.Pod).Spec
	labels := map[string]string{"app": "x"}

	// A DaemonSet needs a Service with internalTrafficPolicy Local.
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: *spec.DeepCopy()}}}
	cluster := corev1.ServiceInternalTrafficPolicyCluster
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Selector: labels, InternalTrafficPolicy: &cluster}}
	err = policy.Check([]policy.Object{{Kind: "DaemonSet", Obj: ds}, {Kind: "Service", Obj: svc}})
	if err == nil || !strings.Contains(err.Error(), "without internalTrafficPolicy Local") {
		t.Fatalf("DaemonSet behind a cluster-wide Service: %v", err)
	}
	if err = policy.Check([]policy.Object{{Kind: "DaemonSet", Obj: ds}}); err == nil || !strings.Contains(err.Error(), "no Service selects") {
		t.Fatalf("DaemonSet without a Service: %v", err)
	}

	// The injector: 2 replicas or more, a PodDisruptionBudget, hardened.
	one := int32(1)
	inj := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &one, Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: policy.InjectorName}}}}}}
	err = policy.Check([]policy.Object{{Kind: "Deployment", Obj: inj}})
	for _, want := range []string{"at least 2 replicas", "without a PodDisruptionBudget", "no securityContext"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("injector: %v, want %q", err, want)
		}
	}
}
