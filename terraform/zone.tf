# The zone and what is zone-wide: TLS settings, URL normalization. Zone-wide resources exist only
# in the state of the zone's owner (manage_zone), so two environments never fight over them.

data "cloudflare_zone" "this" {
  filter = {
    name = var.zone_name
  }
}

locals {
  zone_id = data.cloudflare_zone.this.id
  owner   = var.manage_zone ? 1 : 0
}

# Full (strict): Cloudflare connects to the origin over TLS and checks its certificate (the
# origin certificate below).
resource "cloudflare_zone_setting" "ssl" {
  count      = local.owner
  zone_id    = local.zone_id
  setting_id = "ssl"
  value      = "strict"
}

resource "cloudflare_zone_setting" "min_tls_version" {
  count      = local.owner
  zone_id    = local.zone_id
  setting_id = "min_tls_version"
  value      = "1.2"
}

resource "cloudflare_zone_setting" "tls_1_3" {
  count      = local.owner
  zone_id    = local.zone_id
  setting_id = "tls_1_3"
  value      = "on"
}

resource "cloudflare_zone_setting" "always_use_https" {
  count      = local.owner
  zone_id    = local.zone_id
  setting_id = "always_use_https"
  value      = "on"
}

# Rules see paths with percent-encoded unreserved characters decoded and slashes merged
# (/%6Detrics and //metrics arrive as /metrics); the WAF rule below does not rely on it alone.
resource "cloudflare_url_normalization_settings" "this" {
  count   = local.owner
  zone_id = local.zone_id
  type    = "cloudflare"
  scope   = "incoming"
}
