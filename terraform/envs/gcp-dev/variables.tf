variable "project_id" {
  type        = string
  description = "GCP project that holds everything (the Compute, Container, IAM and Storage APIs enabled)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "GCP region of the network and the bucket, e.g. us-central1."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a GCP region such as us-central1 (not a zone such as us-central1-a)."
  }
}

variable "zone" {
  type        = string
  description = "Zone of the (zonal, cheaper) dev cluster, inside region. Use the region itself for a regional cluster."
  default     = "us-central1-a"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9](-[a-z])?$", var.zone))
    error_message = "zone must be a GCP zone (us-central1-a) or region (us-central1)."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach the Kubernetes API (your office/VPN public IPs)."

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_allowed_cidrs must list at least one valid CIDR, and never 0.0.0.0/0."
  }
}

variable "machine_types" {
  type = object({
    system = optional(string)
    cpu    = optional(string)
    spot   = optional(list(string))
    gpu    = optional(string)
  })
  description = "Override GCE machine types per pool (see modules/common/node_pools for the defaults)."
  default     = {}

  validation {
    condition = alltrue([
      for t in compact(concat([var.machine_types.system, var.machine_types.cpu, var.machine_types.gpu], coalesce(var.machine_types.spot, []))) :
      can(regex("^[a-z][a-z0-9]*-[a-z0-9-]+$", t))
    ])
    error_message = "machine types must be GCE machine types such as c2d-highcpu-16."
  }
}

variable "max_nodes" {
  type = object({
    system = optional(number)
    cpu    = optional(number)
    spot   = optional(number)
    gpu    = optional(number)
  })
  description = "Override the autoscaling upper bound of a pool (nodes)."
  default     = {}

  validation {
    condition     = alltrue([for n in [var.max_nodes.system, var.max_nodes.cpu, var.max_nodes.spot, var.max_nodes.gpu] : n == null ? true : (floor(n) == n && n >= 0 && n <= 500)])
    error_message = "max_nodes values must be whole numbers between 0 and 500."
  }
}

variable "gpu_enabled" {
  type        = bool
  description = "Create the GPU node pool (scales from zero; needs L4 quota in the zone)."
  default     = true
}

variable "deploy_ray_workloads" {
  type        = bool
  description = "Apply the Ray workloads (RayCluster, RayService, RayCronJob). Leave false for the first apply: kubernetes_manifest needs the KubeRay CRDs at plan time."
  default     = false
}

variable "extra_tags" {
  type        = map(string)
  description = "Additional labels for every resource (e.g. cost-center)."
  default     = {}
}

variable "launcher_ssh_cidrs" {
  type        = list(string)
  description = "Where `ray up` with cluster/<cloud>.yaml connects from (VPN or bastion ranges). The launcher's VMs have private IPs only; empty = SSH from inside the network only."
  default     = []

  validation {
    condition     = alltrue([for c in var.launcher_ssh_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "launcher_ssh_cidrs must be valid CIDRs and never 0.0.0.0/0."
  }
}
