# What cluster/gcp.yaml (`ray up`) runs on, so that its VMs do not fall back to Ray's defaults (an external IP on
# every VM in the project's first subnet, and the head acting as ray-autoscaler-sa-v1 with roles/compute.admin,
# roles/storage.objectAdmin and roles/iam.serviceAccountUser on the whole project):
# - VMs in the private node subnet of modules/gcp/network (no external IP; Cloud NAT for egress; traffic
#   between the VMs is allowed by the network's internal rule), provider.use_internal_ips;
# - SSH (22) only from ssh_cidrs (VPN/bastion ranges; by default the node subnet itself);
# - the head runs as <name>-rl-head: create and delete VMs (roles/compute.instanceAdmin.v1, no network, firewall
#   or IAM rights), attach only the worker account to them, use the data bucket; workers run as <name>-rl-worker:
#   the data bucket only. Both write logs and metrics.
# infra/scripts/launcher_config.py fills cluster/gcp.yaml's `terraform:ray_launcher.*` values from the output.
# Ray 2.60's GCP bootstrap (run by `ray up`) still creates ray-autoscaler-sa-v1 and grants it its project roles
# even though no VM of this config uses it: docs/deploy.md 3 says how to remove those bindings.

resource "google_service_account" "head" {
  project      = var.project_id
  account_id   = "${var.name}-rl-head"
  display_name = "${var.name} Ray cluster launcher head"
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = "${var.name}-rl-worker"
  display_name = "${var.name} Ray cluster launcher workers"
}

resource "google_project_iam_member" "head_instances" {
  project = var.project_id
  role    = "roles/compute.instanceAdmin.v1"
  member  = "serviceAccount:${google_service_account.head.email}"
}

# The head may attach the worker account (and only it) to the VMs it creates.
resource "google_service_account_iam_member" "head_uses_worker" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.head.email}"
}

resource "google_project_iam_member" "logs" {
  for_each = {
    for pair in setproduct(["roles/logging.logWriter", "roles/monitoring.metricWriter"], ["head", "worker"]) :
    "${pair[1]}-${pair[0]}" => { role = pair[0], who = pair[1] }
  }
  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${each.value.who == "head" ? google_service_account.head.email : google_service_account.worker.email}"
}

resource "google_storage_bucket_iam_member" "data" {
  for_each = { head = google_service_account.head.email, worker = google_service_account.worker.email }
  bucket   = var.bucket_name
  role     = "roles/storage.objectUser"
  member   = "serviceAccount:${each.value}"
}

resource "google_compute_firewall" "ssh" {
  project                 = var.project_id
  name                    = "${var.name}-ray-launcher-ssh"
  network                 = var.network_id
  direction               = "INGRESS"
  priority                = 900
  source_ranges           = length(var.ssh_cidrs) > 0 ? var.ssh_cidrs : [var.nodes_cidr]
  target_service_accounts = [google_service_account.head.email, google_service_account.worker.email]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
