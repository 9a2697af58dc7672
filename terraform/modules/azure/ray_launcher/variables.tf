variable "name" {
  type        = string
  description = "Name prefix of the launcher's resource group and managed identity (from modules/common/naming)."
}

variable "location" {
  type        = string
  description = "Azure region of the Ray VMs."

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "location must be an Azure region name such as eastus or westeurope (lowercase, no spaces)."
  }
}

variable "subscription_id" {
  type        = string
  description = "Subscription of the Ray VMs (provider.subscription_id of cluster/azure.yaml)."

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription GUID."
  }
}

variable "container_id" {
  type        = string
  description = "Resource id of the data container: the only data the VMs' identity may read and write."
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
