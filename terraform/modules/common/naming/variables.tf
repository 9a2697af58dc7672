variable "project" {
  type        = string
  description = "Short project name, the first part of every resource name (lowercase letters, digits, hyphens; 2-12 characters)."
  default     = "quantray"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.project))
    error_message = "project must be 2-12 characters of lowercase letters, digits and hyphens, starting with a letter (it ends up in bucket and cluster names)."
  }
}

variable "environment" {
  type        = string
  description = "Deployment environment: dev, staging or prod."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "cloud" {
  type        = string
  description = "Target cloud: aws, gcp or azure (decides which region format is valid)."

  validation {
    condition     = contains(["aws", "gcp", "azure"], var.cloud)
    error_message = "cloud must be one of aws, gcp, azure."
  }
}

variable "region" {
  type        = string
  description = "Cloud region, in that cloud's own format: us-east-1 (AWS), us-central1 (GCP), eastus (Azure)."

  validation {
    condition = (
      var.cloud == "aws" ? can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region)) :
      var.cloud == "gcp" ? can(regex("^[a-z]+-[a-z]+[0-9]$", var.region)) :
      can(regex("^[a-z]+[0-9]?$", var.region))
    )
    error_message = "region does not look like a region of the chosen cloud: AWS like us-east-1, GCP like us-central1, Azure like eastus or westeurope (no zone suffix such as us-east-1a or us-central1-a)."
  }
}

variable "unique_suffix" {
  type        = string
  description = "Lowercase letters/digits (4-8) appended to globally unique names (buckets, storage accounts), e.g. from random_id in the environment root."

  validation {
    condition     = can(regex("^[a-z0-9]{4,8}$", var.unique_suffix))
    error_message = "unique_suffix must be 4-8 lowercase letters or digits."
  }
}

variable "extra_tags" {
  type        = map(string)
  description = "Additional tags/labels for every resource (e.g. cost-center). Keys and values are lower-cased for GCP labels."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.extra_tags : can(regex("^[a-zA-Z][a-zA-Z0-9_-]{0,62}$", k)) && length(v) <= 63])
    error_message = "extra_tags keys must start with a letter and use letters, digits, '_' or '-' (at most 63 characters); values at most 63 characters (the strictest of the three clouds, GCP labels)."
  }
}
