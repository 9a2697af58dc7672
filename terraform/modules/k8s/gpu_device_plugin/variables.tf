variable "chart_version" {
  type        = string
  description = "NVIDIA k8s-device-plugin Helm chart version (advertises nvidia.com/gpu on GPU nodes; EKS and AKS need it, GKE installs its own)."
  default     = "0.19.0"

  validation {
    condition     = can(regex("^0\\.[0-9]+\\.[0-9]+$", var.chart_version))
    error_message = "chart_version must be a 0.x.y release of nvidia/k8s-device-plugin."
  }
}

variable "gpu_node_selector" {
  type        = map(string)
  description = "Nodes that get the plugin (the gpu pool)."
  default     = { "quantray.io/pool" = "gpu" }
}
