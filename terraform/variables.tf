# Every variable except account_id is set by env/<env>.tfvars, generated from
# environments/<env>.yaml by `make generate`. account_id comes from TF_VAR_account_id
# (make infra-plan sets it from CLOUDFLARE_ACCOUNT_ID).

variable "account_id" {
  description = "Cloudflare account that owns the R2 buckets."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.account_id))
    error_message = "account_id must be a 32-character Cloudflare account id (CLOUDFLARE_ACCOUNT_ID)."
  }
}

variable "environment" {
  description = "Environment name (environments/<name>.yaml)."
  type        = string
}

variable "zone_name" {
  description = "Cloudflare zone holding the API host name."
  type        = string
}

variable "hostname" {
  description = "The API host name (nginx.serverName), proxied by Cloudflare to the origin."
  type        = string
  validation {
    condition     = var.hostname == var.zone_name || endswith(var.hostname, ".${var.zone_name}")
    error_message = "hostname must be inside zone_name."
  }
}

variable "origin_address" {
  description = "Public IPv4 or IPv6 address of the Nginx edge host."
  type        = string
}

variable "manage_zone" {
  description = "This state owns the zone-wide settings and rulesets (exactly one environment per zone)."
  type        = bool
}

variable "zone_hosts" {
  description = "Every environment's host in the zone with its edge rules (only for the zone's owner)."
  type = list(object({
    environment         = string
    hostname            = string
    admin_allowed_cidrs = list(string)
    rate_limit = object({
      period              = number
      requests_per_period = number
      mitigation_timeout  = number
    })
    admin_write_rate_limit = object({
      period              = number
      requests_per_period = number
      mitigation_timeout  = number
    })
    admin_write_methods_exempt = list(string)
  }))
}

variable "r2_location" {
  description = "Location hint of the R2 buckets."
  type        = string
}

variable "logos_bucket" {
  description = "R2 bucket of the channel logos (the API's R2_BUCKET)."
  type        = string
}

variable "backups_bucket" {
  description = "R2 bucket of the pgBackRest repository."
  type        = string
}

variable "backup_retention_days" {
  description = "Objects in the backup bucket older than this many days are deleted."
  type        = number
}
