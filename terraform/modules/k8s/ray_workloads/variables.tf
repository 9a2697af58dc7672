variable "manifests_file" {
  type        = string
  description = "Rendered manifests of one overlay: infra/k8s/rendered/<overlay>.yaml (infra/scripts/render_k8s.py)."
}

variable "namespace" {
  type        = string
  description = "Namespace of the Ray workloads; must equal the overlay's namespace."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS label: lowercase letters, digits and '-', at most 63 characters."
  }
}

variable "kinds" {
  type        = list(string)
  description = "Kinds from the rendered file to apply. RayJob is left out by default: a sweep is a one-off submission (kubectl create -f / ray job submit), not standing infrastructure."
  default     = ["ServiceAccount", "PersistentVolumeClaim", "NetworkPolicy", "RayCluster", "RayService", "RayCronJob"]

  validation {
    condition     = alltrue([for k in var.kinds : contains(["ServiceAccount", "PersistentVolumeClaim", "NetworkPolicy", "RayCluster", "RayService", "RayCronJob", "RayJob"], k)])
    error_message = "kinds may contain only ServiceAccount, PersistentVolumeClaim, NetworkPolicy, RayCluster, RayService, RayCronJob and RayJob."
  }
}

variable "service_account_annotations" {
  type        = map(string)
  description = "Workload-identity annotations for the Ray service account: eks.amazonaws.com/role-arn, iam.gke.io/gcp-service-account or azure.workload.identity/client-id."
  default     = {}
}

variable "token_secret_name" {
  type        = string
  description = "Secret holding the Ray auth token (key auth_token); infra/k8s authOptions.secretName."
  default     = "quantray-ray-token"
}

variable "results_url" {
  type        = string
  description = "Where jobs write results and the quarterly job writes reports: the data bucket as an fsspec URL (s3://<bucket>, gs://<bucket> or abfs://<container>@<account>.dfs.core.windows.net). Stored as QUANTRAY_OUT in the ConfigMap quantray-settings, which the RayJob/RayCronJob entrypoints pass as --out."

  validation {
    condition     = can(regex("^(s3|gs|abfs)://[^/\\s]+(/[^\\s]*)?$", var.results_url)) && !endswith(var.results_url, "/")
    error_message = "results_url must be an s3://, gs:// or abfs:// URL of the data bucket without a trailing slash (e.g. s3://quantray-dev-data-a1b2c3), not a local path: a path would land in the head container and be lost."
  }
}

variable "settings_config_map_name" {
  type        = string
  description = "ConfigMap holding QUANTRAY_OUT for the Ray workloads (infra/k8s: configMapKeyRef quantray-settings)."
  default     = "quantray-settings"
}

variable "shared_storage" {
  type = object({
    provisioner   = string
    parameters    = map(string)
    mount_options = optional(list(string), [])
  })
  description = "The cloud's ReadWriteMany StorageClass, created as quantray-shared for the Serve app's QUANTRAY_HOME (infra/k8s/base/pvc-quantray-home.yaml): EFS (efs.csi.aws.com), Filestore (filestore.csi.storage.gke.io) or Azure Files NFS (file.csi.azure.com)."

  validation {
    condition     = contains(["efs.csi.aws.com", "filestore.csi.storage.gke.io", "file.csi.azure.com"], var.shared_storage.provisioner)
    error_message = "shared_storage.provisioner must be a ReadWriteMany CSI driver: efs.csi.aws.com, filestore.csi.storage.gke.io or file.csi.azure.com (block-storage classes cannot be shared between Serve pods)."
  }
}

variable "shared_storage_class_name" {
  type        = string
  description = "Name of the ReadWriteMany StorageClass; infra/k8s/base/pvc-quantray-home.yaml asks for quantray-shared."
  default     = "quantray-shared"
}

variable "shared_storage_reclaim_policy" {
  type        = string
  description = "What happens to the shared volume (keys, audit log, alerts) when its claim is deleted: Retain (keep it; prod) or Delete (dev, so that terraform destroy leaves no file share behind)."
  default     = "Retain"

  validation {
    condition     = contains(["Retain", "Delete"], var.shared_storage_reclaim_policy)
    error_message = "shared_storage_reclaim_policy must be Retain or Delete."
  }
}

variable "tradingview_secret" {
  type        = string
  description = "Shared secret of the TradingView alert intake (QUANTRAY_TRADINGVIEW_SECRET of the Serve pods, from the Secret quantray-serve-secrets). Null: terraform generates one (terraform output -raw tradingview_secret)."
  default     = null
  sensitive   = true

  validation {
    condition     = var.tradingview_secret == null ? true : length(var.tradingview_secret) >= 16
    error_message = "tradingview_secret must be at least 16 characters (or null to generate one)."
  }
}

variable "serve_secrets_name" {
  type        = string
  description = "Secret holding the Serve app's secrets as environment variables (infra/k8s: secretKeyRef quantray-serve-secrets)."
  default     = "quantray-serve-secrets"
}
