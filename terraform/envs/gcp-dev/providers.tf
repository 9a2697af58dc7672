provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

# Kubernetes and Helm use the caller's Google access token (gcloud auth application-default login).
provider "kubernetes" {
  host                   = "https://${module.gke.endpoint}"
  cluster_ca_certificate = base64decode(module.gke.certificate_authority)
  token                  = data.google_client_config.current.access_token
}

provider "helm" {
  kubernetes {
    host                   = "https://${module.gke.endpoint}"
    cluster_ca_certificate = base64decode(module.gke.certificate_authority)
    token                  = data.google_client_config.current.access_token
  }
}
