# NVIDIA device plugin DaemonSet on the GPU pool only: without it Kubernetes does not know the nodes have
# GPUs and Ray GPU pods stay Pending.
resource "helm_release" "nvidia_device_plugin" {
  name             = "nvidia-device-plugin"
  repository       = "https://nvidia.github.io/k8s-device-plugin"
  chart            = "nvidia-device-plugin"
  version          = var.chart_version
  namespace        = "nvidia-device-plugin"
  create_namespace = true
  atomic           = true
  wait             = false

  values = [yamlencode({
    nodeSelector = var.gpu_node_selector
    tolerations = [
      { key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" },
    ]
  })]
}
