package injector

import (
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// choice is the Config after a pod's annotations: what this pod's sidecar looks like.
type choice struct {
	native     bool
	unixSocket bool
	maxmemory  string
}

// container builds the sidecar container for a choice. memLimit is already resolved against
// the RSS bound.
func (c *Config) container(ch choice, memLimit corev1.ResourceList) corev1.Container {
	delay := c.ShutdownDelay
	if delay == "auto" {
		delay = c.LegacyShutdownDelay
		if ch.native {
			// The kubelet stops a native sidecar only after the app containers have exited.
			delay = "0"
		}
	}
	env := []corev1.EnvVar{
		// Always explicit: a Service named "sidecache" would otherwise inject
		// SIDECACHE_PORT=tcp://... as a service link.
		{Name: "SIDECACHE_PORT", Value: strconv.Itoa(int(c.Port))},
		{Name: "SIDECACHE_BIND", Value: "127.0.0.1"},
	}
	if ch.unixSocket {
		env = append(env,
			corev1.EnvVar{Name: "SIDECACHE_UNIXSOCKET", Value: c.UnixSocket.Path()},
			corev1.EnvVar{Name: "SIDECACHE_UNIXSOCKETPERM", Value: c.UnixSocket.Perm})
	}
	env = append(env,
		corev1.EnvVar{Name: "SIDECACHE_MAXMEMORY", Value: ch.maxmemory},
		corev1.EnvVar{Name: "SIDECACHE_MAXMEMORY_CLIENTS", Value: c.MaxMemoryClients},
		corev1.EnvVar{Name: "SIDECACHE_MAXMEMORY_POLICY", Value: c.MaxMemoryPolicy},
		corev1.EnvVar{Name: "SIDECACHE_DATABASES", Value: strconv.Itoa(int(c.Databases))},
		corev1.EnvVar{Name: "SIDECACHE_MAXCLIENTS", Value: strconv.Itoa(int(c.MaxClients))},
		corev1.EnvVar{Name: "SIDECACHE_ADMIN_ADDR", Value: net.JoinHostPort("0.0.0.0", strconv.Itoa(int(c.AdminPort)))},
		corev1.EnvVar{Name: "SIDECACHE_SHUTDOWN_DELAY", Value: delay},
		corev1.EnvVar{Name: "SIDECACHE_SHUTDOWN_TIMEOUT", Value: c.ShutdownTimeout},
	)
	env = append(env, c.Env...)

	res := *c.Resources.DeepCopy()
	for k, v := range memLimit {
		if res.Limits == nil {
			res.Limits = corev1.ResourceList{}
		}
		res.Limits[k] = v
		// A request above the limit is invalid; the limit wins.
		if r, ok := res.Requests[k]; ok && r.Cmp(v) > 0 {
			res.Requests[k] = v
		}
	}

	ctr := corev1.Container{
		Name:            ContainerName,
		Image:           c.Image,
		ImagePullPolicy: c.ImagePullPolicy,
		Env:             env,
		Ports: []corev1.ContainerPort{{
			Name: "sidecache-admin", ContainerPort: c.AdminPort, Protocol: corev1.ProtocolTCP,
		}},
		Resources:       res,
		SecurityContext: c.SecurityContext.DeepCopy(),
		StartupProbe:    c.StartupProbe.DeepCopy(),
		LivenessProbe:   c.LivenessProbe.DeepCopy(),
		ReadinessProbe:  c.ReadinessProbe.DeepCopy(),
		// FallbackToLogsOnError: a crash shows its last log lines in the pod status.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if ch.unixSocket {
		ctr.VolumeMounts = []corev1.VolumeMount{{Name: VolumeName, MountPath: c.UnixSocket.Dir}}
	}
	if ch.native {
		always := corev1.ContainerRestartPolicyAlways
		ctr.RestartPolicy = &always
	}
	return ctr
}

// volume is the socket directory: an emptyDir, memory-backed by default, so the socket
// lives on tmpfs and the root filesystem stays read-only.
func (c *Config) volume() corev1.Volume {
	return corev1.Volume{Name: VolumeName, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: c.UnixSocket.Medium, SizeLimit: c.UnixSocket.SizeLimit},
	}}
}

// redisURL is what app containers get as REDIS_URL: the socket when there is one (no TCP
// stack, no port), else loopback TCP.
func (c *Config) redisURL(ch choice) string {
	if ch.unixSocket {
		return "unix://" + c.UnixSocket.Path()
	}
	return "redis://127.0.0.1:" + strconv.Itoa(int(c.Port))
}
