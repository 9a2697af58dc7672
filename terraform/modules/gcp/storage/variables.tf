variable "project_id" {
  type        = string
  description = "GCP project id."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "bucket_name" {
  type        = string
  description = "Globally unique bucket name (from modules/common/naming)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,56}[a-z0-9]$", var.bucket_name)) && !startswith(var.bucket_name, "goog")
    error_message = "bucket_name must be 3-58 lowercase letters, digits and hyphens, start and end with a letter or digit, and not start with \"goog\" (the access-log bucket appends '-logs')."
  }
}

variable "location" {
  type        = string
  description = "Bucket location: the cluster's region (cheapest, fastest for jobs) or a multi-region such as US."

  validation {
    condition     = can(regex("^([A-Za-z]+-[A-Za-z]+[0-9]|US|EU|ASIA|NAM4|EUR4|ASIA1)$", var.location))
    error_message = "location must be a GCS location: a region such as US-CENTRAL1 or a multi-region/dual-region such as US, EU, NAM4."
  }
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept (the undo window for results)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650
    error_message = "noncurrent_version_days must be between 1 and 3650."
  }
}

variable "access_log_days" {
  type        = number
  description = "Days the usage/access logs are kept."
  default     = 365

  validation {
    condition     = var.access_log_days >= 30
    error_message = "access_log_days must be at least 30."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key (projects/.../cryptoKeys/...) for CMEK; null = Google-managed encryption (always on)."
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be a full Cloud KMS key name: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete a bucket that still holds objects (dev only)."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels for the buckets (modules/common/naming `labels`)."
  default     = {}
}
