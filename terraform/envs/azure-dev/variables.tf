variable "subscription_id" {
  type        = string
  description = "Azure subscription id (az account show --query id -o tsv)."

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "subscription_id must be a GUID such as 00000000-0000-0000-0000-000000000000."
  }
}

variable "location" {
  type        = string
  description = "Azure region, e.g. eastus (one word, no spaces: the resource-manager form)."
  default     = "eastus"

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "location must be an Azure region name such as eastus or westeurope (lowercase, no spaces)."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach the Kubernetes API and the storage account (your office/VPN public IPs)."

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_allowed_cidrs must list at least one valid CIDR, and never 0.0.0.0/0."
  }
}

variable "admin_group_object_ids" {
  type        = list(string)
  description = "Entra ID group object ids whose members administer the cluster (local accounts are disabled)."
  default     = []

  validation {
    condition     = alltrue([for g in var.admin_group_object_ids : can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", g))])
    error_message = "admin_group_object_ids must be Entra ID object ids (GUIDs)."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "AKS Kubernetes minor version."
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version like \"1.33\"."
  }
}

variable "machine_types" {
  type = object({
    system = optional(string)
    cpu    = optional(string)
    spot   = optional(list(string))
    gpu    = optional(string)
  })
  description = "Override VM sizes per pool (see modules/common/node_pools for the defaults)."
  default     = {}

  validation {
    condition = alltrue([
      for t in compact(concat([var.machine_types.system, var.machine_types.cpu, var.machine_types.gpu], coalesce(var.machine_types.spot, []))) :
      can(regex("^Standard_[A-Za-z0-9_]+$", t))
    ])
    error_message = "machine types must be Azure VM types such as Standard_F16s_v2."
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
  description = "Create the GPU node pool (scales from zero; needs NCasT4_v3 quota) and the NVIDIA device plugin."
  default     = true
}

variable "deploy_ray_workloads" {
  type        = bool
  description = "Apply the Ray workloads (RayCluster, RayService, RayCronJob). Leave false for the first apply: kubernetes_manifest needs the KubeRay CRDs at plan time."
  default     = false
}

variable "extra_tags" {
  type        = map(string)
  description = "Additional tags for every resource (e.g. cost-center)."
  default     = {}
}
