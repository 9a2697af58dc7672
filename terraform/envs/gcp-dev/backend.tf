# Remote state. Local state is fine for a first try; a shared environment needs a remote, locked, encrypted
# backend (the state holds the Ray token). Create the state bucket once, outside this root:
#
#   gcloud storage buckets create gs://<org>-quantray-tfstate --location=us-central1 \
#     --uniform-bucket-level-access --public-access-prevention
#   gcloud storage buckets update gs://<org>-quantray-tfstate --versioning
#
# then uncomment the block below and run `terraform init -migrate-state -backend-config=backend.hcl`, where
# backend.hcl (not committed; see backend.hcl.example) holds the partial configuration:
#
#   bucket = "<org>-quantray-tfstate"
#   prefix = "quantray/gcp-dev"
#
# The gcs backend locks the state natively.
#
# terraform {
#   backend "gcs" {}
# }
