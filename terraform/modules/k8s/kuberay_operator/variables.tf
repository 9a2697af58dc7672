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

# RayCronJob is alpha in KubeRay 1.7 and its controller only runs with the RayCronJob feature gate: without it
# the quarterly RayCronJob (infra/k8s) is accepted by the API server and then ignored. The chart renders this
# list into the operator's --feature-gates flag, and a values list replaces the chart's whole list, so the
# default repeats the chart's default-on gates. Assumption, not checkable offline: the kuberay-operator 1.7.0
# chart's values.yaml enables RayClusterStatusConditions, RayJobDeletionPolicy, RayMultiHostIndexing and
# RayServiceIncrementalUpgrade and disables RayCronJob, RayClusterMTLS, RayClusterNetworkPolicy and
# RayClusterHistoryServer (the chart's values.yaml around the 1.7 release). Gates not listed keep the operator's
# built-in default, so the alpha gates we do not use are left out rather than named (an unknown name would
# stop the operator at start-up). `helm get values kuberay-operator -n kuberay-system` shows what was applied.
variable "feature_gates" {
  type = list(object({
    name    = string
    enabled = bool
  }))
  description = "KubeRay operator feature gates (chart value featureGates). Must enable RayCronJob: the quarterly report is a RayCronJob."
  default = [
    { name = "RayClusterStatusConditions", enabled = true },
    { name = "RayJobDeletionPolicy", enabled = true },
    { name = "RayMultiHostIndexing", enabled = true },
    { name = "RayServiceIncrementalUpgrade", enabled = true },
    { name = "RayCronJob", enabled = true },
  ]

  validation {
    condition     = contains([for g in var.feature_gates : g.name if g.enabled], "RayCronJob")
    error_message = "feature_gates must enable RayCronJob: it is alpha (off by default) in KubeRay 1.7, and without it the quarterly RayCronJob is accepted and never runs."
  }

  validation {
    condition     = length(distinct([for g in var.feature_gates : g.name])) == length(var.feature_gates)
    error_message = "feature_gates must name each gate once."
  }
}
