# R2 buckets of the environment: channel logos (served through signed URLs, never public) and the
# pgBackRest repository.

resource "cloudflare_r2_bucket" "logos" {
  account_id = var.account_id
  name       = var.logos_bucket
  location   = var.r2_location
}

resource "cloudflare_r2_bucket" "backups" {
  account_id = var.account_id
  name       = var.backups_bucket
  location   = var.r2_location
}

# pgBackRest expires backups itself (repo1-retention-full); this rule is the bucket's own limit:
# nothing older than the retention stays (orphans of an interrupted expire included), and
# multipart uploads of a crashed backup are cleaned up after a day.
resource "cloudflare_r2_bucket_lifecycle" "backups" {
  account_id  = var.account_id
  bucket_name = cloudflare_r2_bucket.backups.name
  rules = [{
    id         = "expire-after-backup-retention"
    enabled    = true
    conditions = { prefix = "" }
    delete_objects_transition = {
      condition = {
        type    = "Age"
        max_age = var.backup_retention_days * 86400
      }
    }
    abort_multipart_uploads_transition = {
      condition = {
        type    = "Age"
        max_age = 86400
      }
    }
  }]
}
