// Package policy decodes Kubernetes manifests strictly into their API types and checks the
// rules every sidecache deployment follows (see Check). The chart's renderings, the plain
// manifests and the injector's patched pods are all held to it by tests.
package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one decoded document.
type Object struct {
	Source     string // file (and document index) it came from
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Obj        any // pointer to the typed object, e.g. *appsv1.Deployment
}

func (o Object) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.Kind, o.Namespace, o.Name, o.Source)
}

// kinds maps apiVersion/kind to a new typed object. Anything else is refused: a manifest of
// an unexpected kind is as much a mistake as an unknown field.
var kinds = map[string]func() any{
	"v1/ConfigMap":                  func() any { return new(corev1.ConfigMap) },
	"v1/Namespace":                  func() any { return new(corev1.Namespace) },
	"v1/Secret":                     func() any { return new(corev1.Secret) },
	"v1/Service":                    func() any { return new(corev1.Service) },
	"v1/ServiceAccount":             func() any { return new(corev1.ServiceAccount) },
	"v1/Pod":                        func() any { return new(corev1.Pod) },
	"apps/v1/Deployment":            func() any { return new(appsv1.Deployment) },
	"apps/v1/DaemonSet":             func() any { return new(appsv1.DaemonSet) },
	"batch/v1/Job":                  func() any { return new(batchv1.Job) },
	"policy/v1/PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
	"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": func() any {
		return new(admissionregistrationv1.MutatingWebhookConfiguration)
	},
	"rbac.authorization.k8s.io/v1/Role":             func() any { return new(rbacv1.Role) },
	"rbac.authorization.k8s.io/v1/RoleBinding":      func() any { return new(rbacv1.RoleBinding) },
	"cert-manager.io/v1/Issuer":                     func() any { return new(Issuer) },
	"cert-manager.io/v1/Certificate":                func() any { return new(Certificate) },
	"monitoring.coreos.com/v1/ServiceMonitor":       func() any { return new(ServiceMonitor) },
	"monitoring.coreos.com/v1/PodMonitor":           func() any { return new(PodMonitor) },
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return new(Kustomization) },
}

// Decode splits a multi-document YAML stream and decodes every non-empty document strictly:
// unknown fields, duplicate fields and wrongly cased field names are errors.
func Decode(source string, data []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	var errs []error
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		src := fmt.Sprintf("%s#%d", source, i)
		obj, err := decodeOne(src, doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if obj != nil {
			out = append(out, *obj)
		}
	}
	return out, errors.Join(errs...)
}

func decodeOne(src string, doc []byte) (*Object, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil // only comments or "---"
	}
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &head); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	key := head.APIVersion + "/" + head.Kind
	mk, ok := kinds[key]
	if !ok {
		return nil, fmt.Errorf("%s: unexpected kind %q", src, key)
	}
	obj := mk()
	if err := StrictUnmarshalJSON(js, obj); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", src, key, err)
	}
	return &Object{Source: src, APIVersion: head.APIVersion, Kind: head.Kind,
		Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Obj: obj}, nil
}

// StrictUnmarshalJSON decodes as the API server's strict field validation does.
func StrictUnmarshalJSON(js []byte, obj any) error {
	strict, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// Types of the custom resources the chart can render, with the fields it uses. Decoding is
// strict, so a field outside these is an error (as it would be for the real CRD schemas,
// which are closed).

type Issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}

type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName  string   `json:"secretName"`
		CommonName  string   `json:"commonName,omitempty"`
		DNSNames    []string `json:"dnsNames,omitempty"`
		IsCA        bool     `json:"isCA,omitempty"`
		Duration    string   `json:"duration,omitempty"`
		RenewBefore string   `json:"renewBefore,omitempty"`
		Usages      []string `json:"usages,omitempty"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind,omitempty"`
			Group string `json:"group,omitempty"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

type MonitorEndpoint struct {
	Port          string `json:"port"`
	Path          string `json:"path,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
}

type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *NamespaceSelector   `json:"namespaceSelector,omitempty"`
		Endpoints         []MonitorEndpoint    `json:"endpoints"`
	} `json:"spec"`
}

type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		NamespaceSelector   *NamespaceSelector   `json:"namespaceSelector,omitempty"`
		PodMetricsEndpoints []MonitorEndpoint    `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// Kustomization is the subset of kustomize's file the plain manifests use.
type Kustomization struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace,omitempty"`
	Resources  []string          `json:"resources"`
	Labels     []KustomizeLabels `json:"labels,omitempty"`
}

type KustomizeLabels struct {
	Pairs            map[string]string `json:"pairs"`
	IncludeSelectors bool              `json:"includeSelectors,omitempty"`
}
