# TLS between Cloudflare and the Nginx edge, per host name:
# - the origin certificate Nginx serves (Cloudflare Origin CA; Full (strict) trusts it);
# - Authenticated Origin Pulls with a certificate of our own for this host name, so that Nginx
#   (ssl_verify_client) accepts only pulls made for this zone, not any Cloudflare customer's (the
#   shared origin-pull certificate is the same for every account).
# The private keys live in the state (R2, encrypted at rest, reachable only with the state
# token) and leave it only through `terraform output -raw` on the edge host's deploy.

resource "tls_private_key" "origin" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_cert_request" "origin" {
  private_key_pem = tls_private_key.origin.private_key_pem
  subject {
    common_name  = var.hostname
    organization = "MyTelevision"
  }
}

resource "cloudflare_origin_ca_certificate" "origin" {
  csr                = tls_cert_request.origin.cert_request_pem
  hostnames          = [var.hostname]
  request_type       = "origin-ecc"
  requested_validity = 5475
}

# A private CA for origin pulls: Nginx trusts it (ssl_client_certificate); the client certificate
# it signs is what Cloudflare presents. Renewing the client certificate does not touch Nginx.
resource "tls_private_key" "origin_pull_ca" {
  algorithm = "RSA"
  rsa_bits  = 3072
}

resource "tls_self_signed_cert" "origin_pull_ca" {
  private_key_pem       = tls_private_key.origin_pull_ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 87600
  allowed_uses          = ["cert_signing", "crl_signing"]
  subject {
    common_name  = "MyTelevision origin pull CA (${var.environment})"
    organization = "MyTelevision"
  }
}

resource "tls_private_key" "origin_pull" {
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_cert_request" "origin_pull" {
  private_key_pem = tls_private_key.origin_pull.private_key_pem
  subject {
    common_name  = "Cloudflare origin pull for ${var.hostname}"
    organization = "MyTelevision"
  }
}

resource "tls_locally_signed_cert" "origin_pull" {
  cert_request_pem      = tls_cert_request.origin_pull.cert_request_pem
  ca_private_key_pem    = tls_private_key.origin_pull_ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.origin_pull_ca.cert_pem
  validity_period_hours = 8760
  early_renewal_hours   = 720
  allowed_uses          = ["digital_signature", "key_encipherment", "client_auth"]
}

resource "cloudflare_authenticated_origin_pulls_hostname_certificate" "origin_pull" {
  zone_id     = local.zone_id
  certificate = tls_locally_signed_cert.origin_pull.cert_pem
  private_key = tls_private_key.origin_pull.private_key_pem
}

resource "cloudflare_authenticated_origin_pulls" "origin_pull" {
  zone_id = local.zone_id
  config = [{
    cert_id  = cloudflare_authenticated_origin_pulls_hostname_certificate.origin_pull.id
    enabled  = true
    hostname = var.hostname
  }]
}
