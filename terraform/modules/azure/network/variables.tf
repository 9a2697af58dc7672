variable "name" {
  type        = string
  description = "Name prefix of the virtual network and its parts (from modules/common/naming)."
}

variable "resource_group_name" {
  type        = string
  description = "Resource group holding the network."
}

variable "location" {
  type        = string
  description = "Azure region, e.g. eastus."

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "location must be an Azure region name such as eastus or westeurope (lowercase, no spaces)."
  }
}

variable "address_space" {
  type        = string
  description = "Virtual network address space. Pods use an overlay (Azure CNI overlay), so nodes only need a /22 or so."
  default     = "10.60.0.0/16"

  validation {
    condition     = can(cidrhost(var.address_space, 0))
    error_message = "address_space must be a valid IPv4 CIDR."
  }
}

variable "nodes_cidr" {
  type        = string
  description = "Subnet for the AKS nodes, inside address_space."
  default     = "10.60.0.0/20"

  validation {
    condition     = can(cidrhost(var.nodes_cidr, 0))
    error_message = "nodes_cidr must be a valid IPv4 CIDR."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
