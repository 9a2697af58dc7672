# Least privilege for the cluster:
# - nodes run as a dedicated service account with only the logging/monitoring roles GKE nodes need (not the
#   Compute Engine default account, which is Editor);
# - Ray pods (Workload Identity: <ray_namespace>/<each of ray_service_accounts>) act as a service account that may only
#   create, read, overwrite and delete objects of the data bucket (bucket-level binding, no project role).

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.name}-nodes"
  display_name = "${var.name} GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_service_account" "ray" {
  project      = var.project_id
  account_id   = "${var.name}-ray"
  display_name = "${var.name} Ray pods"
}

resource "google_storage_bucket_iam_member" "ray_objects" {
  bucket = var.bucket_name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.ray.email}"
}

resource "google_service_account_iam_member" "ray_workload_identity" {
  for_each           = toset(var.ray_service_accounts)
  service_account_id = google_service_account.ray.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.ray_namespace}/${each.value}]"
}
