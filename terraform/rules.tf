# The zone's rulesets: WAF managed rules, custom rules, rate limits and cache rules. A zone has one
# entry-point ruleset per phase, so they belong to the zone's owner (manage_zone) and carry the
# rules of every environment's host (var.zone_hosts, generated from environments/*.yaml).
# Expressions: Cloudflare Rules language (developers.cloudflare.com/ruleset-engine/rules-language).

locals {
  # The managed host names as a Rules-language set: {"api.example" "staging-api.example"}.
  managed_hosts = "{${join(" ", [for h in var.zone_hosts : jsonencode(h.hostname)])}}"

  # The path as rules compare it: percent-decoded and lower-cased, so /METRICS and /%6Detrics
  # are /metrics whatever URL normalization did. The query is never part of the path.
  path = "lower(url_decode(http.request.uri.path))"

  # What the origin never serves publicly (nginx/snippets/api-server.conf answers 404 to
  # ^/+metrics(/|$) too): /metrics, //metrics, /metrics/… in any case or encoding.
  metrics_expression = "(${local.path} in {\"/metrics\" \"//metrics\"} or starts_with(${local.path}, \"/metrics/\") or starts_with(${local.path}, \"//metrics/\"))"

  # Requests that may carry or return private data: never cached, whatever the origin says.
  authorised_expression = "any(lower(http.request.headers.names[*])[*] eq \"authorization\")"
  admin_expression      = "starts_with(${local.path}, \"/v2/admin\")"

  not_found_body    = jsonencode({ error = { status = 404, code = "not_found", message = "not found" } })
  forbidden_body    = jsonencode({ error = { status = 403, code = "forbidden", message = "not allowed from this network" } })
  unauthorized_body = jsonencode({ error = { status = 401, code = "unauthorized", message = "admin writes need Authorization" } })
  rate_limited_body = jsonencode({ error = { status = 429, code = "rate_limited", message = "too many requests, slow down" } })

  rate_limited_response = {
    response = {
      status_code  = 429
      content_type = "application/json"
      content      = local.rate_limited_body
    }
  }
}

# Cloudflare Managed Ruleset and the OWASP Core Ruleset (ids are Cloudflare's, the same in every zone).
resource "cloudflare_ruleset" "waf_managed" {
  count       = local.owner
  zone_id     = local.zone_id
  name        = "MyTelevision managed WAF"
  description = "Cloudflare managed rulesets (terraform/rules.tf)"
  kind        = "zone"
  phase       = "http_request_firewall_managed"
  rules = [
    {
      ref         = "cloudflare_managed"
      description = "Cloudflare Managed Ruleset"
      expression  = "http.host in ${local.managed_hosts}"
      action      = "execute"
      action_parameters = {
        id = "efb7b8c949ac4650a09736fc376e9aee"
      }
      enabled = true
    },
    {
      ref         = "owasp_core"
      description = "Cloudflare OWASP Core Ruleset"
      expression  = "http.host in ${local.managed_hosts}"
      action      = "execute"
      action_parameters = {
        id = "4814384a9e5d4991b9815dcfc25d2f1f"
      }
      enabled = true
    },
  ]
}

resource "cloudflare_ruleset" "waf_custom" {
  count       = local.owner
  zone_id     = local.zone_id
  name        = "MyTelevision custom WAF"
  description = "What the origin never serves publicly; who may reach /v2/admin/ (terraform/rules.tf)"
  kind        = "zone"
  phase       = "http_request_firewall_custom"
  rules = concat(
    [{
      ref         = "block_metrics"
      description = "The API's /metrics is for the internal listener only"
      expression  = "(http.host in ${local.managed_hosts} and ${local.metrics_expression})"
      action      = "block"
      action_parameters = {
        response = {
          status_code  = 404
          content_type = "application/json"
          content      = local.not_found_body
        }
      }
      enabled = true
    }],
    flatten([for h in var.zone_hosts : concat(
      length(h.admin_allowed_cidrs) == 0 ? [] : [{
        ref         = "admin_networks_${h.environment}"
        description = "${h.hostname}: /v2/admin/ only from environments/${h.environment}.yaml cloudflare.adminAllowedCidrs"
        expression  = "(http.host eq \"${h.hostname}\" and ${local.admin_expression} and not ip.src in {${join(" ", h.admin_allowed_cidrs)}})"
        action      = "block"
        action_parameters = {
          response = {
            status_code  = 403
            content_type = "application/json"
            content      = local.forbidden_body
          }
        }
        enabled = true
      }],
      [{
        ref         = "admin_writes_need_authorization_${h.environment}"
        description = "${h.hostname}: admin writes without Authorization never reach the origin"
        expression  = "(http.host eq \"${h.hostname}\" and ${local.admin_expression} and not http.request.method in {${join(" ", [for m in h.admin_write_methods_exempt : jsonencode(m)])}} and not ${local.authorised_expression})"
        action      = "block"
        action_parameters = {
          response = {
            status_code  = 401
            content_type = "application/json"
            content      = local.unauthorized_body
          }
        }
        enabled = true
      }],
    )]),
  )
}

# Per client IP (and Cloudflare data centre, which every rate limit counts by), looser than Nginx's
# zones by the environment's rateLimitHeadroom: the numbers come from the rendered Nginx config.
resource "cloudflare_ruleset" "rate_limits" {
  count       = local.owner
  zone_id     = local.zone_id
  name        = "MyTelevision rate limits"
  description = "Looser than the origin's Nginx limit_req zones (terraform/rules.tf)"
  kind        = "zone"
  phase       = "http_ratelimit"
  rules = flatten([for h in var.zone_hosts : [
    {
      ref               = "per_ip_${h.environment}"
      description       = "${h.hostname}: every request, per client IP (Nginx zone api_per_ip)"
      expression        = "(http.host eq \"${h.hostname}\")"
      action            = "block"
      action_parameters = local.rate_limited_response
      ratelimit = {
        characteristics     = ["ip.src", "cf.colo.id"]
        period              = h.rate_limit.period
        requests_per_period = h.rate_limit.requests_per_period
        mitigation_timeout  = h.rate_limit.mitigation_timeout
      }
      enabled = true
    },
    {
      ref               = "admin_writes_per_ip_${h.environment}"
      description       = "${h.hostname}: admin writes, per client IP (Nginx zone admin_write_per_ip)"
      expression        = "(http.host eq \"${h.hostname}\" and ${local.admin_expression} and not http.request.method in {${join(" ", [for m in h.admin_write_methods_exempt : jsonencode(m)])}})"
      action            = "block"
      action_parameters = local.rate_limited_response
      ratelimit = {
        characteristics     = ["ip.src", "cf.colo.id"]
        period              = h.admin_write_rate_limit.period
        requests_per_period = h.admin_write_rate_limit.requests_per_period
        mitigation_timeout  = h.admin_write_rate_limit.mitigation_timeout
      }
      enabled = true
    },
  ]])
}

# Cache exactly what the API marks cacheable: anonymous GET/HEAD reads under /v2/, with the edge
# TTL taken from the origin's Cache-Control and no caching when it sends none
# (bypass_by_default). Admin paths and requests with Authorization are never cached; the last
# rule wins, so the bypass rule comes last.
resource "cloudflare_ruleset" "cache" {
  count       = local.owner
  zone_id     = local.zone_id
  name        = "MyTelevision cache rules"
  description = "Respect the API's Cache-Control; never admin or authorised requests (terraform/rules.tf)"
  kind        = "zone"
  phase       = "http_request_cache_settings"
  rules = [
    {
      ref         = "cache_anonymous_reads"
      description = "Anonymous reads: cached as the origin's Cache-Control says, not at all without it"
      expression  = "(http.host in ${local.managed_hosts} and http.request.method in {\"GET\" \"HEAD\"} and starts_with(${local.path}, \"/v2/\") and not ${local.admin_expression} and not ${local.authorised_expression})"
      action      = "set_cache_settings"
      action_parameters = {
        cache = true
        edge_ttl = {
          mode = "bypass_by_default"
        }
        browser_ttl = {
          mode = "respect_origin"
        }
        respect_strong_etags = true
      }
      enabled = true
    },
    {
      ref         = "never_cache_admin_or_authorised"
      description = "Admin paths and requests with Authorization bypass the cache"
      expression  = "(http.host in ${local.managed_hosts} and (${local.admin_expression} or ${local.authorised_expression}))"
      action      = "set_cache_settings"
      action_parameters = {
        cache = false
      }
      enabled = true
    },
  ]
}
