variable "bucket_name" {
  type        = string
  description = "Globally unique bucket name (from modules/common/naming)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,52}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "--")
    error_message = "bucket_name must be 3-54 lowercase letters, digits and single hyphens, starting and ending with a letter or digit (the access-log bucket appends '-logs')."
  }
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before it expires (the undo window for results)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650
    error_message = "noncurrent_version_days must be between 1 and 3650."
  }
}

variable "access_log_days" {
  type        = number
  description = "Days the S3 server access logs are kept."
  default     = 365

  validation {
    condition     = var.access_log_days >= 30
    error_message = "access_log_days must be at least 30 (audits need them)."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete a bucket that still holds objects (dev only; keep false in prod)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
