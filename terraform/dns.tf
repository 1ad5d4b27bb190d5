# The API host name, proxied (orange cloud) to the Nginx edge host.
resource "cloudflare_dns_record" "api" {
  zone_id = local.zone_id
  name    = var.hostname
  type    = strcontains(var.origin_address, ":") ? "AAAA" : "A"
  content = var.origin_address
  proxied = true
  ttl     = 1
  comment = "MyTelevision API ${var.environment}: Nginx edge (terraform/, environments/${var.environment}.yaml)"
}
