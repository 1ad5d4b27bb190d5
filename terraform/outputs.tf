# What the Nginx edge host needs (nginx.tls paths of environments/<env>.yaml), read with
# `terraform output -raw NAME` on a deploy, never printed by make infra-apply.

output "dns_record" {
  description = "The proxied record of the API host name."
  value       = "${cloudflare_dns_record.api.name} -> ${var.origin_address} (proxied)"
}

output "origin_certificate_pem" {
  description = "Origin certificate Nginx serves (nginx.tls.certificate)."
  value       = cloudflare_origin_ca_certificate.origin.certificate
}

output "origin_private_key_pem" {
  description = "Its private key (nginx.tls.certificateKey)."
  value       = tls_private_key.origin.private_key_pem
  sensitive   = true
}

output "origin_pull_ca_pem" {
  description = "CA Nginx verifies Cloudflare's origin-pull certificate with (nginx.tls.originPullCa)."
  value       = tls_self_signed_cert.origin_pull_ca.cert_pem
}

output "buckets" {
  description = "R2 buckets of the environment."
  value = {
    logos   = cloudflare_r2_bucket.logos.name
    backups = cloudflare_r2_bucket.backups.name
  }
}
