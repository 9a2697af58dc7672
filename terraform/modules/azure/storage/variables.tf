variable "storage_account_name" {
  type        = string
  description = "Globally unique storage account name (from modules/common/naming)."

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.storage_account_name))
    error_message = "storage_account_name must be 3-24 lowercase letters and digits."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Resource group holding the storage account."
}

variable "location" {
  type        = string
  description = "Azure region, e.g. eastus (the cluster's)."

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "location must be an Azure region name such as eastus or westeurope (lowercase, no spaces)."
  }
}

variable "replication_type" {
  type        = string
  description = "Redundancy: ZRS (zone-redundant, default), GRS/GZRS (second region), RAGRS/RAGZRS. LRS is refused (one datacenter)."
  default     = "ZRS"

  validation {
    condition     = contains(["ZRS", "GRS", "GZRS", "RAGRS", "RAGZRS"], var.replication_type)
    error_message = "replication_type must be ZRS, GRS, GZRS, RAGRS or RAGZRS (LRS keeps a single datacenter copy)."
  }
}

variable "allowed_subnet_ids" {
  type        = list(string)
  description = "Subnets admitted by the storage firewall (the AKS node subnet)."
}

variable "allowed_ip_ranges" {
  type        = list(string)
  description = "Public IPs/CIDRs admitted by the storage firewall (your office/VPN), without /31 or /32 suffix rules of Azure in mind: plain IPs or /0-/30 ranges."
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_ip_ranges : can(cidrhost(strcontains(c, "/") ? c : "${c}/32", 0)) && c != "0.0.0.0/0"])
    error_message = "allowed_ip_ranges must be IPs or CIDRs and must not include 0.0.0.0/0."
  }
}

variable "retention_days" {
  type        = number
  description = "Days deleted blobs and containers can be restored (soft delete)."
  default     = 30

  validation {
    condition     = var.retention_days >= 7 && var.retention_days <= 365
    error_message = "retention_days must be between 7 and 365."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
