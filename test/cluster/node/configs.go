package node

import (
	"os"
	"text/template"
)

// The configuration files of containerd, the CNI bridge network and the kubelet,
// filled in from a Cluster. Everything they write goes under the work directory,
// except what containerd 1.6 and the kubelet keep in fixed places (see host.go).

var containerdConfig = template.Must(template.New("containerd").Parse(`version = 2
root = "{{.Dir}}/containerd/root"
state = "{{.Dir}}/containerd/state"

[grpc]
  address = "{{.ContainerdSocket}}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.Dir}}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.PauseImage}}"
  # Writing oom_score_adj -998 for the sandbox fails here without CAP_SYS_RESOURCE.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.CNIBinDir}}"
    conf_dir = "{{.Dir}}/cni/net.d"
`))

// The bridge exists before the kubelet starts (kube-apiserver listens on its
// address); the plugin attaches the pods to it. No masquerade: pods talk to this
// machine only.
var cniConfig = template.Must(template.New("cni").Parse(`{
  "cniVersion": "1.0.0",
  "name": "test-cluster",
  "plugins": [{
    "type": "bridge",
    "bridge": "{{.Bridge}}",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "{{.Dir}}/cni/ipam",
      "ranges": [[{"subnet": "{{.PodCIDR}}", "gateway": "{{.NodeIP}}"}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
`))

var kubeletConfig = template.Must(template.New("kubelet").Parse(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{.NodeIP}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: {{.Dir}}/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://{{.ContainerdSocket}}
cgroupDriver: cgroupfs
# This machine has cgroup v1, which the kubelet refuses unless told otherwise.
failCgroupV1: false
failSwapOn: false
podLogsDir: {{.Dir}}/pod-logs
volumePluginDir: {{.Dir}}/kubelet-plugins
clusterDomain: cluster.local
# No image garbage collection (the images are imported, not pulled) and no eviction
# because other work fills this machine's disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
`))

func writeTemplate(path string, t *template.Template, data any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.Execute(f, data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
