# Terraform and provider versions: the only ones this configuration is written for.
# make infra-plan refuses a terraform binary outside required_version.
terraform {
  required_version = "~> 1.14.0"

  required_providers {
    # v5: cloudflare_dns_record, cloudflare_zone_setting, rules as lists of objects.
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.19"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.1"
    }
  }

  # State in R2 through the S3 backend, one key per environment: bucket and key come from
  # env/<env>.s3.tfbackend (terraform init -backend-config=...), the endpoint from
  # AWS_ENDPOINT_URL_S3 (https://<account id>.r2.cloudflarestorage.com) and the keys from
  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (an R2 token scoped to the state bucket), all set
  # by make infra-plan from the environment. Locking: a lock object next to the state
  # (use_lockfile, conditional writes), no DynamoDB.
  backend "s3" {
    region                      = "auto"
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}

# The API token comes from CLOUDFLARE_API_TOKEN in the environment, never from a file.
provider "cloudflare" {}
