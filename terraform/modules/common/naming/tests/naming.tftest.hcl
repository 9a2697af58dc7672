# terraform test (offline: this module has no providers).

variables {
  environment   = "dev"
  cloud         = "aws"
  region        = "us-east-1"
  unique_suffix = "a1b2"
}

run "names_follow_the_convention" {
  command = plan

  assert {
    condition     = output.prefix == "quantray-dev"
    error_message = "prefix should be <project>-<environment>"
  }
  assert {
    condition     = output.cluster_name == "quantray-dev-ray"
    error_message = "cluster name should be <prefix>-ray"
  }
  assert {
    condition     = output.bucket_name == "quantray-dev-data-a1b2" && length(output.bucket_name) <= 63
    error_message = "bucket name should be <prefix>-data-<suffix>, at most 63 characters"
  }
  assert {
    condition     = can(regex("^[a-z0-9]{3,24}$", output.storage_account_name))
    error_message = "storage account name must be 3-24 lowercase letters and digits"
  }
  assert {
    condition     = output.tags["managed-by"] == "terraform" && output.tags["environment"] == "dev"
    error_message = "tags must carry managed-by and environment"
  }
}

run "gcp_labels_are_lowercase" {
  command = plan

  variables {
    cloud      = "gcp"
    region     = "us-central1"
    extra_tags = { CostCenter = "Quant Research" }
  }

  assert {
    condition     = output.labels["costcenter"] == "quant-research"
    error_message = "GCP labels must be lower-cased with invalid characters replaced"
  }
}

run "longest_names_fit" {
  command = plan

  variables {
    project       = "abcdefghijkl"
    environment   = "staging"
    unique_suffix = "zzzzzzzz"
  }

  assert {
    condition     = length(output.bucket_name) <= 63 && length(output.storage_account_name) <= 24
    error_message = "names must fit the clouds' length limits even at the longest inputs"
  }
  assert {
    condition     = endswith(output.storage_account_name, "stagingzzzzzzzz")
    error_message = "shortening the storage account name must keep the environment and the unique suffix"
  }
}

run "rejects_a_zone_as_region" {
  command = plan

  variables {
    region = "us-east-1a"
  }

  expect_failures = [var.region]
}

run "rejects_a_region_of_another_cloud" {
  command = plan

  variables {
    cloud  = "azure"
    region = "us-central1"
  }

  expect_failures = [var.region]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "production"
  }

  expect_failures = [var.environment]
}
