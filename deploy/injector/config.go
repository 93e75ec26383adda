// Package injector is the sidecache-injector admission webhook: it adds a sidecache
// sidecar to pods that opted in, and only ever adds (containers, a volume, mounts, env vars,
// an fsGroup, an annotation). Its Config is rendered by the Helm chart from the same values
// that shape the chart's own sidecar, so an injected pod and a chart-rendered one agree.
package injector

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Labels and annotations of the injection contract.
const (
	// NamespaceLabel must be "enabled" on a namespace for its pods to be considered (the
	// webhook's namespaceSelector; checked by the API server, not here).
	NamespaceLabel = "sidecache.io/injection"
	// InjectLabel must be "true" on a pod (the webhook's objectSelector; checked here too).
	InjectLabel = "sidecache.io/inject"

	AnnotationMaxMemory     = "sidecache.io/maxmemory"      // "auto" or a size: 256mb
	AnnotationUnixSocket    = "sidecache.io/unixsocket"     // "true" or "false"
	AnnotationNativeSidecar = "sidecache.io/native-sidecar" // "true" or "false"
	// AnnotationStatus is added to every pod the injector has decided on: "injected", or
	// "skipped: <reason>". A pod that has it is never patched again.
	AnnotationStatus = "sidecache.io/status"

	ContainerName = "sidecache"
	VolumeName    = "sidecache-socket"
	// EnvRedisURL is added to app containers that do not set it.
	EnvRedisURL = "REDIS_URL"
)

// Config is the sidecar the injector adds, as the chart renders it (config.yaml of the
// injector's ConfigMap). Durations and sizes use the server's syntax (10s, 256mb).
type Config struct {
	Image           string            `json:"image"`
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// NativeSidecar: an init container with restartPolicy Always (Kubernetes >= 1.29),
	// else a regular container. The chart resolves its "auto" from the cluster version.
	NativeSidecar bool `json:"nativeSidecar"`
	// Port is the RESP port on 127.0.0.1; 0 means no TCP listener.
	Port int32 `json:"port"`
	// AdminPort serves /health, /ready and /metrics on all interfaces, for kubelet probes.
	AdminPort  int32      `json:"adminPort"`
	UnixSocket UnixSocket `json:"unixSocket"`
	// FSGroup is added to pods without one, so the socket's group is shared with the app.
	FSGroup          int64  `json:"fsGroup"`
	MaxMemory        string `json:"maxmemory"`
	MaxMemoryClients string `json:"maxmemoryClients"`
	MaxMemoryPolicy  string `json:"maxmemoryPolicy"`
	Databases        int32  `json:"databases"`
	MaxClients       int32  `json:"maxclients"`
	// ShutdownDelay is "auto" (LegacyShutdownDelay for a legacy sidecar, 0 for a native one,
	// which the kubelet stops only after the app) or a duration.
	ShutdownDelay       string                      `json:"shutdownDelay"`
	LegacyShutdownDelay string                      `json:"legacyShutdownDelay"`
	ShutdownTimeout     string                      `json:"shutdownTimeout"`
	Resources           corev1.ResourceRequirements `json:"resources"`
	SecurityContext     *corev1.SecurityContext     `json:"securityContext"`
	StartupProbe        *corev1.Probe               `json:"startupProbe,omitempty"`
	LivenessProbe       *corev1.Probe               `json:"livenessProbe,omitempty"`
	ReadinessProbe      *corev1.Probe               `json:"readinessProbe,omitempty"`
	Env                 []corev1.EnvVar             `json:"env,omitempty"`
	// MetricsAnnotations adds prometheus.io/scrape, port and path (the admin port) to pods
	// that have no prometheus.io/scrape of their own.
	MetricsAnnotations bool `json:"metricsAnnotations,omitempty"`
	// SkipNamespaces never get a sidecar, whatever their labels; kube-system and the
	// injector's own namespace are always skipped.
	SkipNamespaces []string `json:"skipNamespaces,omitempty"`
}

// UnixSocket is the socket on a shared emptyDir.
type UnixSocket struct {
	Enabled bool   `json:"enabled"`
	Dir     string `json:"dir"`
	Name    string `json:"name"`
	// Perm is octal; group bits let the app container, another user sharing FSGroup, connect.
	Perm      string               `json:"perm"`
	Medium    corev1.StorageMedium `json:"medium,omitempty"`
	SizeLimit *resource.Quantity   `json:"sizeLimit,omitempty"`
}

// Path is the socket file's path in both containers.
func (u UnixSocket) Path() string { return u.Dir + "/" + u.Name }

// LoadConfig reads a config file (ParseConfig).
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes YAML (or JSON) as the API server's strict validation does: unknown,
// duplicate or wrongly cased fields are errors. The result is validated.
func ParseConfig(b []byte) (*Config, error) {
	js, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return nil, err
	}
	var c Config
	strict, err := sigsjson.UnmarshalStrict(js, &c)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(strict...); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var (
	durationRe = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ms|s|m|h)?)+$`)
	permRe     = regexp.MustCompile(`^[0-7]{3,4}$`)
	policies   = []string{"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
		"allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"}
)

// Validate checks what the server would refuse at start, so a bad config stops the injector
// rather than every injected pod.
func (c *Config) Validate() error {
	var errs []error
	if c.Image == "" {
		errs = append(errs, errors.New("image is empty"))
	}
	if c.Port < 0 || c.Port > 65535 || c.AdminPort <= 0 || c.AdminPort > 65535 {
		errs = append(errs, errors.New("port must be 0..65535 and adminPort 1..65535"))
	}
	if c.Port == 0 && !c.UnixSocket.Enabled {
		errs = append(errs, errors.New("port 0 needs unixSocket.enabled: the app would have nothing to connect to"))
	}
	if c.UnixSocket.Enabled {
		if c.UnixSocket.Dir == "" || c.UnixSocket.Dir[0] != '/' || c.UnixSocket.Name == "" {
			errs = append(errs, errors.New("unixSocket needs an absolute dir and a name"))
		}
		if !permRe.MatchString(c.UnixSocket.Perm) {
			errs = append(errs, fmt.Errorf("unixSocket.perm %q is not octal", c.UnixSocket.Perm))
		}
	}
	if c.FSGroup <= 0 {
		errs = append(errs, errors.New("fsGroup must be a non-root group id"))
	}
	if !slices.Contains(policies, c.MaxMemoryPolicy) {
		errs = append(errs, fmt.Errorf("maxmemoryPolicy %q is not a Redis policy", c.MaxMemoryPolicy))
	}
	if c.Databases < 1 || c.MaxClients < 1 {
		errs = append(errs, errors.New("databases and maxclients must be >= 1"))
	}
	for _, d := range []string{c.LegacyShutdownDelay, c.ShutdownTimeout} {
		if !durationRe.MatchString(d) {
			errs = append(errs, fmt.Errorf("duration %q: want 10s, 500ms or seconds", d))
		}
	}
	if c.ShutdownDelay != "auto" && !durationRe.MatchString(c.ShutdownDelay) {
		errs = append(errs, fmt.Errorf("shutdownDelay %q: want auto or a duration", c.ShutdownDelay))
	}
	if _, err := c.memoryLimit(c.MaxMemory); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// memoryLimit is the sidecar's memory limit for a maxmemory value: the configured limit,
// raised to the RSS bound when maxmemory is explicit. "auto" needs a configured limit, as
// the server sizes itself from it.
func (c *Config) memoryLimit(maxmemory string) (resource.Quantity, error) {
	limit, hasLimit := c.Resources.Limits[corev1.ResourceMemory]
	if maxmemory == "auto" {
		if !hasLimit {
			return resource.Quantity{}, errors.New("maxmemory auto needs resources.limits.memory")
		}
		return limit, nil
	}
	bound, err := MemoryBound(maxmemory, c.MaxMemoryClients)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("maxmemory %q, maxmemoryClients %q: %w", maxmemory, c.MaxMemoryClients, err)
	}
	if hasLimit && limit.Value() >= bound {
		return limit, nil
	}
	return boundQuantity(bound), nil
}
