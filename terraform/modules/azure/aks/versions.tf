terraform {
  required_version = ">= 1.9.0, < 2.0.0"
  required_providers {
    time = {
      source  = "hashicorp/time"
      version = ">= 0.12.0, < 1.0.0"
    }
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.30.0, < 5.0.0"
    }
  }
}
