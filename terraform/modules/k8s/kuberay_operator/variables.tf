variable "chart_version" {
  type        = string
  description = "kuberay-operator Helm chart version; it installs the CRDs that infra/k8s is validated against (/shared/kuberay-crds, v1.7.0)."
  default     = "1.7.0"

  validation {
    condition     = can(regex("^1\\.7\\.[0-9]+$", var.chart_version))
    error_message = "chart_version must be a 1.7.x release: infra/k8s manifests are validated against the KubeRay v1.7.0 CRDs."
  }
}

variable "namespace" {
  type        = string
  description = "Namespace of the operator."
  default     = "kuberay-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes namespace name: lowercase letters, digits and '-', at most 63 characters."
  }
}

variable "node_selector" {
  type        = map(string)
  description = "Where the operator runs (the system pool)."
  default     = { "quantray.io/pool" = "system" }
}
