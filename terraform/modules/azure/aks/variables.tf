variable "cluster_name" {
  type        = string
  description = "AKS cluster name (from modules/common/naming)."
}

variable "resource_group_name" {
  type        = string
  description = "Resource group holding the cluster."
}

variable "location" {
  type        = string
  description = "Azure region, e.g. eastus."

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "location must be an Azure region name such as eastus or westeurope (lowercase, no spaces)."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version, e.g. \"1.33\" (patches follow automatic_upgrade_channel = patch)."
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version like \"1.33\" (1.28-1.39)."
  }
}

variable "sku_tier" {
  type        = string
  description = "Control-plane tier: Free (no SLA, dev) or Standard (uptime SLA, prod)."
  default     = "Standard"

  validation {
    condition     = contains(["Free", "Standard", "Premium"], var.sku_tier)
    error_message = "sku_tier must be Free, Standard or Premium."
  }
}

variable "subnet_id" {
  type        = string
  description = "Node subnet (modules/azure/network)."
}

variable "authorized_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the Kubernetes API (your office/VPN)."

  validation {
    condition     = length(var.authorized_cidrs) > 0 && alltrue([for c in var.authorized_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "authorized_cidrs must list at least one valid CIDR and must not include 0.0.0.0/0."
  }
}

variable "admin_group_object_ids" {
  type        = list(string)
  description = "Entra ID groups that administer the cluster (local accounts are disabled)."
  default     = []
}

variable "grant_deployer_cluster_admin" {
  type        = bool
  description = "Give the identity running terraform \"Azure Kubernetes Service RBAC Cluster Admin\" on the cluster, so that the Helm releases and Ray workloads of the same apply are authorised (Azure RBAC is on, local accounts are off). Turn off only if admin_group_object_ids holds a group the deployer belongs to."
  default     = true

  validation {
    condition     = var.grant_deployer_cluster_admin || length(var.admin_group_object_ids) > 0
    error_message = "With local accounts disabled someone must administer the cluster: keep grant_deployer_cluster_admin = true or list admin_group_object_ids."
  }
}

variable "node_pools" {
  type = map(object({
    name          = string
    machine_types = list(string)
    gpus          = number
    spot          = bool
    min_nodes     = number
    max_nodes     = number
    disk_gib      = number
    labels        = map(string)
    taints        = list(object({ key = string, value = string, effect = string }))
  }))
  description = "Node pools from modules/common/node_pools; `system` becomes the default node pool, the others user pools (max_nodes = 0 skips a pool)."

  validation {
    condition     = contains(keys(var.node_pools), "system")
    error_message = "node_pools must contain a system pool (it becomes the AKS default node pool)."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the Log Analytics workspace that Container Insights writes to, days."
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
