variable "cluster_name" {
  type        = string
  description = "EKS cluster name (from modules/common/naming)."
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the control plane and nodes, e.g. \"1.33\"."
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version like \"1.33\" (1.28-1.39), without a patch number."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets (at least two zones) for the control-plane ENIs and the nodes."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the public Kubernetes API endpoint (your office/VPN). Empty = private endpoint only."
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_access_cidrs must be valid CIDRs and must not include 0.0.0.0/0 (the API would be open to the internet)."
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
  description = "Node pools from modules/common/node_pools (pools with max_nodes = 0 are skipped)."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of control-plane logs in CloudWatch, days."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}

variable "network_policy_enabled" {
  type        = bool
  description = "Manage the VPC CNI add-on with its network policy agent on, so that NetworkPolicy objects (infra/k8s) are enforced."
  default     = true
}
