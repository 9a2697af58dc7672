# Remote state. Local state is fine for a first try; a shared environment needs a remote, locked, encrypted
# backend (the state holds the Ray token and cluster credentials). Create the state bucket once, outside this
# root (it cannot hold its own state):
#
#   aws s3api create-bucket --bucket <org>-quantray-tfstate --region us-east-1
#   aws s3api put-bucket-versioning --bucket <org>-quantray-tfstate --versioning-configuration Status=Enabled
#   aws s3api put-public-access-block --bucket <org>-quantray-tfstate \
#     --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
#
# then uncomment the block below and run `terraform init -migrate-state -backend-config=backend.hcl`, where
# backend.hcl (not committed; see backend.hcl.example) holds the partial configuration:
#
#   bucket = "<org>-quantray-tfstate"
#   key    = "quantray/aws-dev/terraform.tfstate"
#   region = "us-east-1"
#
# terraform {
#   backend "s3" {
#     encrypt      = true
#     use_lockfile = true # S3-native state locking (Terraform >= 1.10), no DynamoDB table needed
#   }
# }
