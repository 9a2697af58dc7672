# Remote state. Local state is fine for a first try; a shared environment needs a remote, locked, encrypted
# backend (the state holds the Ray token). Create the state storage once, outside this root:
#
#   az group create -n quantray-tfstate -l eastus
#   az storage account create -n <org>qrtfstate -g quantray-tfstate --sku Standard_ZRS \
#     --min-tls-version TLS1_2 --allow-blob-public-access false
#   az storage container create -n tfstate --account-name <org>qrtfstate --auth-mode login
#
# then uncomment the block below and run `terraform init -migrate-state -backend-config=backend.hcl`, where
# backend.hcl (not committed; see backend.hcl.example) holds the partial configuration:
#
#   resource_group_name  = "quantray-tfstate"
#   storage_account_name = "<org>qrtfstate"
#   container_name       = "tfstate"
#   key                  = "quantray/azure-dev.tfstate"
#   use_azuread_auth     = true
#
# The azurerm backend locks the state with blob leases.
#
# terraform {
#   backend "azurerm" {}
# }
