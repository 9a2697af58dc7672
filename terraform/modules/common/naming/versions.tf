# Provider-free: pure functions of the inputs, so `terraform init && terraform test` run offline (CI does).
terraform {
  required_version = ">= 1.9.0, < 2.0.0"
  required_providers {}
}
