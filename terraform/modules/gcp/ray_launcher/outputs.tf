output "launcher" {
  description = "Values for cluster/gcp.yaml (terraform:ray_launcher.<key>; infra/scripts/launcher_config.py fills them)."
  value = {
    project_id             = var.project_id
    region                 = var.region
    zone                   = var.zone
    subnetwork             = var.subnetwork_self_link
    head_service_account   = google_service_account.head.email
    worker_service_account = google_service_account.worker.email
  }
}
